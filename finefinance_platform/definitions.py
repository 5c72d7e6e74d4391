"""The Dagster code location: `finefinance_platform.definitions:defs`.

source tables -> ingestion (raw/*) -> dbt staging/intermediate/snapshots -> marts (monthly) ->
deliveries (statement documents, the serving copy the dashboards read), with the reconciliation
checks, the freshness policies (applied to every asset here, in one place), schedules and alerts.
"""

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
from finefinance_platform.statements.assets import statement_assets, statement_checks
from finefinance_platform.transformation.dbt_assets import dbt_models, dbt_resource
from finefinance_platform.warehouse import WarehouseResource

# The modules above only define; the settings (first month, dbt target, ingestion tool) are read
# here, when the code location loads, by the factories (`dbt_models()`, `jobs()`, ...).
defs = Definitions(
    assets=[*ingestion_assets(), *dbt_models(), *statement_assets(), *serving_assets(), advisor_alert_notices],
    asset_checks=[*money_checks, *quarantine_checks, *statement_checks, raw_source_freshness],
    jobs=list(jobs()),
    schedules=schedules(),
    sensors=[alert_on_run_failure, alert_on_check_failure, late_data_sensor],
    resources={
        **ingestion_resources(),
        "dbt": dbt_resource(),
        "warehouse": WarehouseResource(),
    },
    # one process per run: DuckDB takes one writer, and the steps of a run write in sequence; the
    # run holds the warehouse's run lock, as the command line's runs do (run_safety.py)
    executor=in_process_under_the_run_lock,
).map_asset_specs(func=apply_freshness_policy)
