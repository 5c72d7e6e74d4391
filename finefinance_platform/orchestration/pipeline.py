"""`finefinance run`: ingest, refresh the unpartitioned models, build the months, report.

Everything runs as Dagster runs on the local instance (so the UI shows them): the daily refresh job,
then one run for the whole range of months (a single-run backfill).
"""

import datetime as dt
import time
from dataclasses import dataclass, field

from dagster import DagsterInstance, ExecuteInProcessResult

from finefinance_platform.orchestration.alerts import Alert, record_alert
from finefinance_platform.orchestration.instance import local_instance
from finefinance_platform.settings import FineFinanceError, Settings, parse_month
from finefinance_platform.warehouse import connect_duckdb

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class PipelineFailed(FineFinanceError):
    pass


@dataclass
class RunReport:
    months: list[str] = field(default_factory=list)
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


def _report_failures(result: ExecuteInProcessResult, report: RunReport, settings: Settings, label: str) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            report.failed_checks.append(f"{name} ({evaluation.severity.value})")
            record_alert(
                Alert("check_failure", evaluation.severity.value,
                      f"check {name} failed: {evaluation.description or ''}".strip(),
                      run_id=result.run_id, asset_key=evaluation.asset_key.to_user_string(),
                      check_name=evaluation.check_name),
                settings,
            )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        message = failure.message if failure else "see the Dagster UI"
        record_alert(Alert("run_failure", "ERROR", f"{label} failed: {message}", run_id=result.run_id), settings)
        raise PipelineFailed(f"{label} failed (run {result.run_id[:8]}): {message}")


def run_pipeline(
    settings: Settings,
    start: str | None = None,
    end: str | None = None,
    echo=print,
    instance: DagsterInstance | None = None,
) -> RunReport:
    from finefinance_platform.definitions import defs
    from finefinance_platform.orchestration.late_data import earliest_changed_month, high_water_marks
    from finefinance_platform.orchestration.partitions import monthly_partitions

    start_month = parse_month(start, "--from") if start else None
    end_month = parse_month(end, "--to") if end else None
    if start_month and end_month and start_month > end_month:
        raise FineFinanceError(f"--from {start} is after --to {end}")
    instance = instance or local_instance(settings)
    report = RunReport()

    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = connect_duckdb(str(settings.duckdb_path))
    try:
        marks = high_water_marks(con)
    finally:
        con.close()

    echo("[1/2] ingesting the 8 source tables and refreshing staging, snapshot and dimensions ...")
    started = time.monotonic()
    refresh = defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET_LOGS
    )
    report.seconds["ingest_and_refresh"] = round(time.monotonic() - started, 1)
    _report_failures(refresh, report, settings, "ingestion and refresh")

    con = connect_duckdb(str(settings.duckdb_path), read_only=False)
    try:
        earliest = earliest_changed_month(con, marks)
    finally:
        con.close()

    all_months = monthly_partitions.get_partition_keys()
    materialized = instance.get_materialized_partitions(_monthly_probe_key())
    months = months_to_build(all_months, materialized, earliest, start_month, end_month)
    report.months = months
    if (start_month or end_month) and not months:
        raise FineFinanceError(
            f"no completed month between {start or all_months[0]} and {end or all_months[-1]} "
            f"(partitions run from {all_months[0]} to {all_months[-1]})"
        )
    if not months:
        echo("[2/2] every completed month is built and nothing changed: no month to rebuild")
        return report
    echo(f"[2/2] building {len(months)} month(s) {months[0]} .. {months[-1]} in one run ...")
    started = time.monotonic()
    close = defs.resolve_job_def("close_month").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=QUIET_LOGS,
        tags={
            "dagster/asset_partition_range_start": months[0],
            "dagster/asset_partition_range_end": months[-1],
        },
    )
    report.seconds["months"] = round(time.monotonic() - started, 1)
    _report_failures(close, report, settings, f"months {months[0]} .. {months[-1]}")
    return report


def _monthly_probe_key():
    from dagster import AssetKey

    # the statement fact is built for every month: its partitions tell which months exist
    return AssetKey(["marts", "fct_monthly_statement"])


def warehouse_summary(settings: Settings) -> list[tuple[str, int]]:
    con = connect_duckdb(str(settings.duckdb_path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'snapshots', 'marts', 'audit') and table_type = 'BASE TABLE' "
            "and table_name not like '\\_dlt%' escape '\\' order by 1, 2"
        ).fetchall()
        return [
            (f"{schema}.{name}", con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0])
            for schema, name in tables
        ]
    finally:
        con.close()
