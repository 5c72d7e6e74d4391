"""The dbt project as Dagster assets: one translator, two selections.

Month-grain models (dbt tag `monthly`) run on the monthly partitions with the partition window
passed to dbt in its environment; everything else (staging, the customer snapshot, dimensions,
the intraday marts) is unpartitioned. `dbt build` runs the tests, which become asset checks.
"""

import importlib.metadata
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any, NamedTuple

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Output,
    ResourceDependency,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from finefinance_platform.settings import DBT_PROJECT_DIR, Settings
from finefinance_platform.transformation.dbt_process import DBT_COMMAND
from finefinance_platform.transformation.manifest import manifest_is_stale
from finefinance_platform.transformation.partitions import month_window, monthly_partitions
from finefinance_platform.warehouse import WarehouseResource

MONTHLY_SELECTION = "tag:monthly"
LAYER_OWNERS = {
    "staging": "team:data-platform",
    "intermediate": "team:data-platform",
    "snapshots": "team:data-platform",
    "marts": "team:analytics",
}


def dbt_project(settings: Settings) -> DbtProject:
    """The dbt project with the settings' target, made when the definitions load (one per target).

    `make install` prepares the manifest. Under `dagster dev` it is prepared again only when a dbt
    file changed since (dagster-dbt's `prepare_if_dev` parses on every load: 11 s of the UI's
    start-up), so an edited model still reaches the UI with "Reload definitions"."""
    return _dbt_project(settings.dbt_target, settings.under_dagster_dev)


@cache
def _dbt_project(target: str, under_dagster_dev: bool) -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=target)
    if under_dagster_dev and manifest_is_stale(Path(project.manifest_path)):
        project.prepare_if_dev()
    return project


class PlatformDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs it pays on every dbt step, before dbt even starts.

    Measured on the live cycle at scale S (cProfile): `dbt --version` in a subprocess to learn the
    version (4.2 s: a whole dbt start-up) and an in-process dbt adapter with its macros (3.6 s),
    which only serves `fetch_row_counts()` / `fetch_column_metadata()`, used nowhere here
    (`with_row_counts` counts after dbt exits). The version is the installed dbt-core's: the
    executable is the one beside this interpreter. Both are private hooks of dagster-dbt 0.29;
    tests/unit/test_definitions.py fails if they change.
    """

    settings: ResourceDependency[Settings]

    @cached_property
    def _cli_version(self):
        from packaging import version

        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None

    def cli(self, args, **kwargs):
        # dbt's profiles.yml reads the warehouse's paths from the environment: the settings decide
        # them when dbt starts (it copies this process's environment), not when this is imported
        environment = {**self.settings.dbt_environment(), "DBT_TARGET_PATH": str(dbt_target_folder(self.settings.home))}
        with temporary_environment(environment):
            return super().cli(args, **kwargs)


PARTIAL_PARSE = "partial_parse.msgpack"


def dbt_target_folder(home: Path) -> Path:
    """Where this home's dbt steps write (`<home>/dbt/target/<step>-<run>-<id>/`), and its parse state.

    dbt parses the whole project again (3 s a step) when its saved state was parsed with another
    profile, and the warehouse's path is part of the profile. dagster-dbt seeds each step's own
    target folder with the `partial_parse.msgpack` of this folder (DBT_TARGET_PATH), and dbt writes
    the state it parsed back into the step's folder only. So `keep_partial_parse` brings it back
    here after each step: every step of a home after its first parses only what changed, whatever
    FINEFINANCE_HOME (a test's, the benchmark's) is. The first step of a home starts from the state
    `make install` parsed, which is the default home's."""
    folder = home / "dbt" / "target"
    kept = folder / PARTIAL_PARSE
    if not kept.exists():
        installed = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE
        if installed.exists():
            _copy_atomically(installed, kept)
    return folder


# the step folders kept for a look after the fact (dbt's logs, run_results.json, a manifest each)
KEPT_STEP_FOLDERS = 20


def keep_partial_parse(invocation) -> None:
    """After a dbt process ended: the parse state in its target folder becomes the home's, and
    only the newest step folders stay (each holds a manifest: they filled gigabytes before)."""
    step_folder = Path(invocation.target_path)
    written = step_folder / PARTIAL_PARSE
    if written.exists():
        _copy_atomically(written, step_folder.parent / PARTIAL_PARSE)
    step_folders = sorted((entry for entry in step_folder.parent.iterdir() if entry.is_dir()), key=_modified)
    for old in step_folders[:-KEPT_STEP_FOLDERS]:
        shutil.rmtree(old, ignore_errors=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process's step
        return 0.0


def _copy_atomically(source: Path, destination: Path) -> None:
    # a step starting meanwhile reads the old state or the new one, never half of one
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, temporary)
    temporary.replace(destination)


def dbt_resource(settings: Settings) -> DbtCliResource:
    # `finefinance-dbt`: dbt's command with its imports frozen out of the garbage collector
    return PlatformDbtCliResource(settings=settings, project_dir=dbt_project(settings), dbt_executable=str(DBT_COMMAND))


class FineFinanceTranslator(DagsterDbtTranslator):
    """Keys models [schema, name] and groups them by layer: the UI, the warehouse and the repo agree."""

    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))

    @staticmethod
    def layer(props: Mapping[str, Any]) -> str:
        return props.get("config", {}).get("schema") or props.get("schema") or "marts"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # raw/<table>: the ingestion assets' keys, whichever tool loaded them
            return AssetKey(["raw", dbt_resource_props["name"]])
        return AssetKey([self.layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "ingestion"
        return self.layer(dbt_resource_props)

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec
        layer = self.layer(props)
        return spec.replace_attributes(owners=[LAYER_OWNERS.get(layer, "team:data-platform")]).merge_attributes(
            tags={"layer": layer}
        )


translator = FineFinanceTranslator()

# The month's totals shown on a partition's materialization, beside its row count.
MONTH_TOTALS = {
    "fct_transaction": "sum(amount)",
    "fct_monthly_statement": "sum(closing_balance)",
    "kpi_monthly_growth": "sum(revenue)",
    "kpi_transactions_per_month": "sum(transaction_amount)",
    "fct_customer_value": "sum(contribution)",
}


def with_row_counts(
    context: AssetExecutionContext,
    events: list,
    warehouse: WarehouseResource,
    window: dict | None = None,
    dbt_seconds: float | None = None,
) -> Iterator:
    """Add row counts (and, per month window, the window's totals) to dbt's materializations, and
    how long the dbt process that built them took (what the step costs beyond dbt shows against it).

    Counted here, after dbt has exited, rather than with dagster-dbt's `fetch_row_counts()`, which
    keeps a dbt-duckdb connection open in this process and so locks the next dbt step out of the file.
    Views are not counted: counting one runs its query (for the staging views, a deduplication of
    all of raw), 11 s of the daily refresh at scale M for figures that tables downstream show anyway.
    """
    with warehouse.connect(read_only=True) as con:
        views = set(con.execute("select table_schema, table_name from information_schema.tables "
                                "where table_type = 'VIEW'").fetchall())  # fmt: skip
        timing = {} if dbt_seconds is None else {"dbt_process_seconds": round(dbt_seconds, 2)}
        for event in events:
            if not isinstance(event, Output):
                yield event
                continue
            schema, table = context.assets_def.keys_by_output_name[event.output_name].path[-2:]
            if (schema, table) in views:
                yield event.with_metadata({**(event.metadata or {}), **timing})
                continue
            if window:
                total = MONTH_TOTALS.get(table, "null")
                count, amount = con.execute(
                    f'select count(*), {total} from "{schema}"."{table}" where month_start >= ? and month_start < ?',
                    [window["month_start"], window["month_end"]],
                ).fetchone()
                metadata = {"dagster/partition_row_count": int(count)}
                if amount is not None:
                    metadata["window_total_eur"] = float(amount)
            else:
                count = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                metadata = {"dagster/row_count": int(count)}
            yield event.with_metadata({**(event.metadata or {}), **metadata, **timing})


WAREHOUSE_WRITER_TAGS = {"finefinance/warehouse": "writer"}
# dbt's unit tests check the SQL on fixed inputs: they run in the test suite, not on every partition
PRODUCTION_BUILD = ["--exclude-resource-type", "unit_test"]


class DbtModels(NamedTuple):
    unpartitioned: AssetsDefinition  # staging, the snapshot, dimensions, the intraday marts
    monthly: AssetsDefinition  # the month-grain marts (dbt tag `monthly`), on the monthly partitions


def dbt_models(settings: Settings) -> DbtModels:
    """The dbt project's two Dagster assets, made from its manifest when the definitions load: the
    same objects for as long as the dbt project and the monthly partitions stay the same."""
    return _dbt_models(dbt_project(settings), monthly_partitions(settings))


@cache
def _dbt_models(project: DbtProject, partitions) -> DbtModels:

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=MONTHLY_SELECTION,
        dagster_dbt_translator=translator,
        name="dbt_unpartitioned",
        op_tags=WAREHOUSE_WRITER_TAGS,
        pool="warehouse",
    )
    def dbt_unpartitioned_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        started = time.perf_counter()
        # the op's context, not the asset's: dagster-dbt reads `context.op`, deprecated on the latter
        invocation = dbt.cli(["build", *PRODUCTION_BUILD], context=context.op_execution_context)
        events = list(invocation.stream())
        keep_partial_parse(invocation)
        yield from with_row_counts(context, events, warehouse, dbt_seconds=time.perf_counter() - started)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=MONTHLY_SELECTION,
        partitions_def=partitions,
        # a backfill of a range of months is one run, one dbt invocation over the whole window
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        name="dbt_monthly",
        op_tags=WAREHOUSE_WRITER_TAGS,
        pool="warehouse",
    )
    def dbt_monthly_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        window = context.partition_time_window
        dbt_vars = month_window(window.start.date(), window.end.date())
        context.log.info(f"dbt window [{dbt_vars['month_start']}, {dbt_vars['month_end']})")
        # The window reaches dbt in its environment, not as --vars: dbt parses the whole project again
        # whenever its vars change (3-4 s per step), and every window is new. macros/month_window/validation.sql
        # reads these only while running, never while parsing, so the manifest stays valid.
        started = time.perf_counter()
        with window_in_environment(dbt_vars):  # the op's context, as above
            invocation = dbt.cli(["build", *PRODUCTION_BUILD], context=context.op_execution_context)
        events = list(invocation.stream())
        keep_partial_parse(invocation)
        yield from with_row_counts(context, events, warehouse, dbt_vars, dbt_seconds=time.perf_counter() - started)

    return DbtModels(dbt_unpartitioned_models, dbt_monthly_models)


WINDOW_ENVIRONMENT = {"month_start": "FINEFINANCE_MONTH_START", "month_end": "FINEFINANCE_MONTH_END"}


def window_in_environment(dbt_vars: Mapping[str, str]):
    """The month window in the environment dbt's process starts with (macros/month_window/)."""
    return temporary_environment({WINDOW_ENVIRONMENT[key]: value for key, value in dbt_vars.items()})


@contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment while a dbt process starts (it copies it), then the
    environment as it was: a run's steps run one after another in one process (the in-process
    executor), so no other step sees them."""
    before = os.environ.copy()
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            if name in before:
                os.environ[name] = before[name]
            else:
                os.environ.pop(name, None)
