"""`finefinance run`: ingest, refresh the unpartitioned models, build the months, report.

Everything runs as Dagster runs on the local instance (so the UI shows them): the ingestion, the
rest of the daily refresh when raw changed, then one run for the whole range of months (a
single-run backfill), then the newest month's statement files.

Crash safety (docs/reliability.md): the run lock and the recovery of runs a killed process left
behind are in run_safety.py; the late-data marks (late_data.py, one record with the late-data
sensor's) move up only once the months they call for are built, so a crash between ingestion and
the months loses no rebuild.
"""

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.library_log import library_output_to_log
from finefinance_platform.months import parse_month
from finefinance_platform.orchestration.alerts import Alert, record_alert
from finefinance_platform.orchestration.instance import local_instance
from finefinance_platform.orchestration.run_safety import (
    RUNNER_TAGS,
    exclusive_run,
    fail_runs_left_by_a_crash,
    warehouse_turn,
)
from finefinance_platform.settings import Settings
from finefinance_platform.warehouse import connect_duckdb

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class PipelineFailed(FineFinanceError):
    pass


@dataclass
class RunReport:
    months: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)  # months whose statement files were rendered
    seconds: dict[str, float] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)


def months_to_build(
    all_months: list[str],
    materialized: set[str],
    earliest_changed: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
) -> list[str]:
    """The months a run builds; pure, unit-tested.

    Explicit bounds win. Otherwise every month from the earliest one not built yet or touched by
    late data, to the last: balances and streaks carry forward, so later months follow it.
    """
    if start or end:
        low = start.isoformat() if start else all_months[0] if all_months else ""
        high = end.isoformat() if end else all_months[-1] if all_months else ""
        return [m for m in all_months if low <= m <= high]
    wanted = {m for m in all_months if m not in materialized}
    if earliest_changed is not None:
        wanted |= {m for m in all_months if m >= earliest_changed.isoformat()}
    if not wanted:
        return []
    return [m for m in all_months if m >= min(wanted)]


def failure_summary(event) -> str:
    """One line saying which step failed and why (the root cause, not "step X failed").

    A `Failure` raised on purpose carries its own description; otherwise the innermost exception
    says it. dbt's errors come after dagster-dbt's "Errors parsed from dbt logs:" preamble.
    """
    data = event.event_specific_data
    user_failure = getattr(data, "user_failure_data", None)
    error = getattr(data, "error", None)
    if user_failure is not None and user_failure.description:
        text = user_failure.description
    elif error is not None:
        while error.cause is not None:
            error = error.cause
        text = error.message
    else:
        text = event.message or ""
    text = text.split("Errors parsed from dbt logs:", 1)[-1]
    lines = [line.strip() for line in text.splitlines()]
    useful = [line for line in lines if line and not line.startswith(">") and line != "Encountered an error:"]
    where = f"step {event.step_key}: " if event.step_key else ""
    return where + " ".join(useful)[:2000]


def report_failures(result: ExecuteInProcessResult, report: RunReport, settings: Settings, label: str) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            report.failed_checks.append(f"{name} ({evaluation.severity.value})")
            record_alert(
                Alert(
                    "check_failure",
                    evaluation.severity.value,
                    f"check {name} failed: {evaluation.description or ''}".strip(),
                    run_id=result.run_id,
                    asset_key=evaluation.asset_key.to_user_string(),
                    check_name=evaluation.check_name,
                ),
                settings,
            )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        message = failure_summary(failure) if failure else "see the Dagster UI"
        record_alert(Alert("run_failure", "ERROR", f"{label} failed: {message}", run_id=result.run_id), settings)
        raise PipelineFailed(f"{label} failed (run {result.run_id[:8]}): {message}")


def execute_quietly(job, settings: Settings, **kwargs) -> ExecuteInProcessResult:
    """Run `job` in this process, its failures returned rather than raised, with Dagster's console
    at warnings and what dbt and dlt print sent to the library log (library_log.py)."""
    with library_output_to_log(settings):
        return job.execute_in_process(raise_on_error=False, run_config=QUIET_LOGS, **kwargs)


def _refreshed_from_path(settings: Settings) -> Path:
    return settings.home / "state" / "unpartitioned_models_built_from.json"


def refreshed_from(settings: Settings) -> dict | None:
    """The raw tables (late_data.raw_fingerprint) this command last built the unpartitioned models
    from, in this warehouse (None: unknown, so they are built again)."""
    try:
        recorded = json.loads(_refreshed_from_path(settings).read_text())
        return recorded["raw"] if recorded["warehouse"] == str(settings.duckdb_path) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: the models are built again, which is always right


def remember_refreshed_from(settings: Settings, fingerprint: dict) -> None:
    """Written only after a refresh succeeded, with raw as it was before it started: rows that
    arrived meanwhile count as new next time."""
    path = _refreshed_from_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"warehouse": str(settings.duckdb_path), "raw": fingerprint}))
    temporary.replace(path)


def run_pipeline(
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    echo=print,
    instance: DagsterInstance | None = None,
) -> RunReport:
    """`start` and `end` (first days of months, parsed by the caller: `finefinance run --from/--to`)
    bound the months built; without them, the months not built yet and those late data touched."""
    with exclusive_run(settings, echo):
        return _run_pipeline(settings, start, end, echo, instance)


def _run_pipeline(
    settings: Settings,
    start: dt.date | None,
    end: dt.date | None,
    echo,
    instance: DagsterInstance | None,
) -> RunReport:
    # the code location reads the settings and the dbt manifest when it loads: when a run starts, not at import
    from finefinance_platform.definitions import code_location
    from finefinance_platform.orchestration.jobs import monthly_close
    from finefinance_platform.orchestration.late_data import (
        advance_marks,
        earliest_changed_month,
        high_water_marks,
        raw_fingerprint,
        remember_marks,
        settle_requested_rebuild,
        staging_behind_raw,
    )
    from finefinance_platform.statements.assets import STATEMENT_DOCUMENTS_KEY
    from finefinance_platform.statements.export import statements_folder
    from finefinance_platform.transformation.dbt_assets import dbt_models
    from finefinance_platform.transformation.partitions import monthly_partitions

    # the jobs of these settings (a test or a tool may run on other settings than the process's)
    defs = code_location(settings)
    instance = instance or local_instance(settings)
    report = RunReport()
    fail_runs_left_by_a_crash(instance, echo)
    # the late-data marks are one record with the sensor's (late_data.py): a rebuild it requested
    # that succeeded has moved them up, one that has not run yet leaves its months to this run too
    pending = settle_requested_rebuild(settings, instance)
    if pending is not None:
        echo(
            f"      the late-data sensor's rebuild of {pending.start[:7]} .. {pending.end[:7]} has not run yet: "
            "this run builds what it calls for"
        )

    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = connect_duckdb(settings)
    try:
        marks = remember_marks(settings, high_water_marks(con))
    finally:
        con.close()

    echo("[1/2] ingesting the 8 source tables ...")
    started = time.monotonic()
    refresh_job = defs.resolve_job_def("daily_refresh")
    raw_keys = [key for key in refresh_job.asset_layer.executable_asset_keys if key.path[0] == "raw"]
    ingestion = execute_quietly(refresh_job, settings, instance=instance, tags=RUNNER_TAGS, asset_selection=raw_keys)
    report.seconds["ingest"] = round(time.monotonic() - started, 1)
    report_failures(ingestion, report, settings, "ingestion")
    echo(f"      done in {report.seconds['ingest']:.0f} s")

    # The models staged from raw (staging, the customer snapshot, dimensions, intraday marts) are
    # rebuilt unless raw is exactly what they were last built from: a re-run with nothing new at
    # the source (a month rebuilt on purpose) does not pay for them again.
    con = connect_duckdb(settings, read_only=True)
    try:
        raw_now = raw_fingerprint(con)
        current = refreshed_from(settings) == raw_now and not staging_behind_raw(con)
        # what the months built below include: the run lock keeps every other writer out of raw
        reached = high_water_marks(con)
    finally:
        con.close()
    if current:
        echo("      nothing new since the last refresh: staging, snapshot and dimensions are current")
    else:
        echo("      refreshing staging, snapshot and dimensions ...")
        started = time.monotonic()
        rest = sorted(set(refresh_job.asset_layer.executable_asset_keys) - set(raw_keys))
        refresh = execute_quietly(refresh_job, settings, instance=instance, tags=RUNNER_TAGS, asset_selection=rest)
        report.seconds["refresh"] = round(time.monotonic() - started, 1)
        report_failures(refresh, report, settings, "refresh of staging, snapshot and dimensions")
        remember_refreshed_from(settings, raw_now)
        echo(f"      done in {report.seconds['refresh']:.0f} s")

    con = connect_duckdb(settings, read_only=False)
    try:
        earliest = earliest_changed_month(con, marks)
    finally:
        con.close()

    all_months = monthly_partitions(settings).get_partition_keys()
    # a month is built when its statements are built and issued (a warehouse from before issuing
    # existed gets each month issued once)
    materialized = set.intersection(*(instance.get_materialized_partitions(key) for key in _monthly_probe_keys()))
    months = months_to_build(all_months, materialized, earliest, start, end)
    # the months the late data calls for: once they are built, the marks move up to what they read
    needed = set(months_to_build(all_months, materialized, earliest, None, None))
    report.months = months
    if (start or end) and not months:
        raise FineFinanceError(
            f"no completed month between {start or all_months[0]} and {end or all_months[-1]} "
            f"(partitions run from {all_months[0]} to {all_months[-1]})"
        )
    if not months:
        echo("[2/2] every completed month is built and nothing changed: no month to rebuild")
        if not needed:
            advance_marks(settings, marks, reached)
        return report
    echo(f"[2/2] building {len(months)} month(s) {months[0]} .. {months[-1]} in one run ...")
    close_month = defs.resolve_job_def("close_month")
    monthly = monthly_close(dbt_models(settings)).resolve(defs.resolve_asset_graph())
    everything_but_files = sorted(monthly - {STATEMENT_DOCUMENTS_KEY}, key=lambda key: key.to_user_string())
    started = time.monotonic()
    close = execute_quietly(
        close_month,
        settings,
        instance=instance,
        asset_selection=everything_but_files,
        tags={**RUNNER_TAGS, **_partition_range(months[0], months[-1])},
    )
    report.seconds["months"] = round(time.monotonic() - started, 1)
    report_failures(close, report, settings, f"months {months[0]} .. {months[-1]}")
    if needed <= set(months):
        advance_marks(settings, marks, reached)

    # Every statement is issued and downloadable now (CLI, HTTP service, dashboards render an issued
    # version on demand). The bulk files are rendered for the newest month, and again for any month
    # that already has files, so none on disk is left behind a correction; an older month's files
    # are one `finefinance statements export --month YYYY-MM` (or a backfill in the UI) away.
    report.documents = [m for m in months if statements_folder(parse_month(m), settings).is_dir()]
    report.documents = sorted({*report.documents, months[-1]})
    started = time.monotonic()
    for first, last in _contiguous_ranges(report.documents, months):
        echo(f"      rendering the statement files of {first[:7]} .. {last[:7]} ...")
        files = execute_quietly(
            close_month,
            settings,
            instance=instance,
            asset_selection=[STATEMENT_DOCUMENTS_KEY],
            tags={**RUNNER_TAGS, **_partition_range(first, last)},
        )
        report_failures(files, report, settings, f"statement files {first[:7]} .. {last[:7]}")
    report.seconds["statement_files"] = round(time.monotonic() - started, 1)
    return report


def _partition_range(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _contiguous_ranges(chosen: list[str], months: list[str]) -> list[tuple[str, str]]:
    """`chosen` (a subset of the consecutive `months`) as (first, last) runs of consecutive months."""
    ranges: list[tuple[str, str]] = []
    for month in chosen:
        if ranges and months.index(month) == months.index(ranges[-1][1]) + 1:
            ranges[-1] = (ranges[-1][0], month)
        else:
            ranges.append((month, month))
    return ranges


def _monthly_probe_keys():
    from dagster import AssetKey

    # the statement fact and the issued statements exist for every month: their partitions tell
    # which months are done
    return [AssetKey(["marts", "fct_monthly_statement"]), AssetKey(["delivery", "statement_issues"])]


def warehouse_summary(settings: Settings) -> list[tuple[str, int]] | None:
    """Row counts of the warehouse's tables; None when another run is writing it (a reader's lock
    would make that run's next dbt step fail to open the file)."""
    with warehouse_turn(settings) as free:
        if not free:
            return None
        return _table_counts(settings)


def _table_counts(settings: Settings) -> list[tuple[str, int]]:
    con = connect_duckdb(settings, read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'snapshots', 'marts', 'delivery', 'audit') and table_type = 'BASE TABLE' "
            "and table_name not like '\\_dlt%' escape '\\' order by 1, 2"
        ).fetchall()
        return [
            (f"{schema}.{name}", con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0])
            for schema, name in tables
        ]
    finally:
        con.close()
