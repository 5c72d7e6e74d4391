"""The Dagster code location: `finefinance_platform.definitions:defs`.

source tables -> ingestion (raw/*) -> dbt staging/intermediate/snapshots -> marts (monthly) ->
deliveries (statement documents, the serving copy the dashboards read), with the reconciliation
checks, the freshness policies (applied to every asset here, in one place), schedules and alerts.
"""

import gc
from functools import cache

from dagster import Definitions

from finefinance_platform.checks.quarantine import quarantine_checks
from finefinance_platform.checks.reconciliation import money_checks
from finefinance_platform.checks.source_freshness import raw_source_freshness
from finefinance_platform.ingestion import ingestion_assets, ingestion_resources
from finefinance_platform.orchestration.advisor_alerts import advisor_alert_notices
from finefinance_platform.orchestration.alerts import alert_on_check_failure, alert_on_run_failure
from finefinance_platform.orchestration.freshness import apply_freshness_policy
from finefinance_platform.orchestration.jobs import jobs, schedules
from finefinance_platform.orchestration.run_safety import in_process_under_the_run_lock
from finefinance_platform.orchestration.sensors import late_data_sensor
from finefinance_platform.serving.assets import serving_assets
from finefinance_platform.settings import Settings, get_settings
from finefinance_platform.statements.assets import statement_assets, statement_checks
from finefinance_platform.transformation.dbt_assets import dbt_models, dbt_resource
from finefinance_platform.warehouse import WarehouseResource


@cache
def code_location(settings: Settings) -> Definitions:
    """The definitions on `settings`, passed to the factories (`dbt_models(settings)`,
    `jobs(settings)`, ...) and the resources. The modules above only define; a command that runs
    jobs (`finefinance run`, `finefinance live`) takes the definitions of the settings it was given,
    not those this module loaded with."""
    return Definitions(
        assets=[
            *ingestion_assets(settings),
            *dbt_models(settings),
            *statement_assets(settings),
            *serving_assets(settings),
            advisor_alert_notices,
        ],
        asset_checks=[*money_checks, *quarantine_checks, *statement_checks, raw_source_freshness],
        jobs=list(jobs(settings)),
        schedules=schedules(settings),
        sensors=[alert_on_run_failure, alert_on_check_failure, late_data_sensor],
        resources={
            **ingestion_resources(settings),
            "dbt": dbt_resource(settings),
            "warehouse": WarehouseResource(settings=settings),
        },
        # one process per run: DuckDB takes one writer, and the steps of a run write in sequence; the
        # run holds the warehouse's run lock, as the command line's runs do (run_safety.py)
        executor=in_process_under_the_run_lock(settings),
    ).map_asset_specs(func=apply_freshness_policy)


# the code location (`finefinance_platform.definitions:defs`): the settings are read here, when it loads
defs = code_location(get_settings())

# What the code location loaded (Dagster's and dbt's modules, the manifest, the definitions) lives as
# long as the process. Frozen, it is left out of every later garbage collection, the interpreter's
# exit included: that walk cost every process that loads the code location 0.6 s more at exit alone
# (docs/benchmarks.md, "Commands that start at once").
gc.freeze()
