"""`finefinance live`: the live cycle from the command line, once or every few minutes.

One cycle is one run of Dagster's `live` job on the local instance (the UI shows it): ingestion of
what changed, the incremental staging and the intraday marts (dbt models tagged `live`), the
advisors' alert notices and the serving copy. It holds the warehouse's run lock like `finefinance
run`, so a cycle and a month build or backfill wait for each other, never collide.

A change that touches a closed month (a correction at the source) is not rebuilt here: the live
cycle keeps the late-data marks (the record `finefinance run` and the late-data sensor share,
late_data.py), and the next of them (the sensor under `make dev`) rebuilds that month and those
after it.
"""

import datetime as dt
import time
from dataclasses import dataclass, field

from dagster import DagsterInstance

from finefinance_platform.orchestration.instance import local_instance
from finefinance_platform.orchestration.run_safety import RUNNER_TAGS, exclusive_run, fail_runs_left_by_a_crash
from finefinance_platform.runs.pipeline import PipelineFailed, RunReport, execute_quietly, report_failures
from finefinance_platform.settings import Settings
from finefinance_platform.warehouse import connect_duckdb

# seconds between the starts of two cycles of `finefinance live` (the Dagster schedule: 5 minutes)
DEFAULT_INTERVAL_SECONDS = 60


@dataclass
class CycleReport:
    changed_rows: dict[str, int] = field(default_factory=dict)  # raw rows new or updated, per table
    new_alerts: int = 0
    booked_today: int = 0
    seconds: float = 0.0
    closed_months_touched: str | None = None  # the earliest closed month a change touched
    failed_checks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        moved = sum(self.changed_rows.values())
        tables = ", ".join(f"{table} {count:,}" for table, count in sorted(self.changed_rows.items()) if count)
        text = (
            f"live cycle in {self.seconds:.1f} s: {moved:,} source row(s) moved"
            + (f" ({tables})" if tables else "")
            + f"; {self.booked_today:,} transaction(s) booked today; {self.new_alerts:,} new advisor alert(s)"
        )
        if self.failed_checks:
            text += f"; checks that failed (see audit.alerts): {', '.join(self.failed_checks)}"
        if self.closed_months_touched:
            text += (
                f"; changes reach back to {self.closed_months_touched[:7]}, a closed month: the next "
                "`finefinance run` rebuilds it"
            )
        return text


def _counts(settings: Settings, marks: dict | None) -> tuple[dict[str, int], int, int]:
    """Raw rows above `marks` per table, alerts recorded, transactions booked today (UTC)."""
    con = connect_duckdb(settings, read_only=True)
    try:
        tables = {
            (schema, name)
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables where table_schema in ('raw', 'marts')"
            ).fetchall()
        }
        changed = {}
        for table, mark in (marks or {}).items():
            if ("raw", table) in tables:
                where = "" if mark is None else " where updated_at > ?"
                changed[table] = con.execute(
                    f"select count(*) from raw.{table}{where}", [] if mark is None else [mark]
                ).fetchone()[0]
        alerts = (
            con.execute("select count(*) from marts.intraday_alerts").fetchone()[0]
            if ("marts", "intraday_alerts") in tables
            else 0
        )
        today = (
            con.execute(
                "select coalesce(sum(transaction_count), 0) from marts.intraday_activity where activity_date = ?",
                [dt.datetime.now(dt.UTC).date()],
            ).fetchone()[0]
            if ("marts", "intraday_activity") in tables
            else 0
        )
        return changed, int(alerts), int(today)
    finally:
        con.close()


def run_live_cycle(settings: Settings, echo=print, instance: DagsterInstance | None = None) -> CycleReport:
    """One live cycle; raises PipelineFailed (after the alert) when a step fails."""
    # the code location reads the settings and the dbt manifest when it loads: when a run starts, not at import
    from finefinance_platform.definitions import code_location
    from finefinance_platform.orchestration.late_data import (
        earliest_changed_month,
        high_water_marks,
        rebuild_range,
        remember_marks,
    )
    from finefinance_platform.transformation.partitions import monthly_partitions

    with exclusive_run(settings, echo):
        instance = instance or local_instance(settings)
        fail_runs_left_by_a_crash(instance, echo)
        started = time.monotonic()
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        con = connect_duckdb(settings)
        try:
            marks = high_water_marks(con)
        finally:
            con.close()
        # kept on disk before anything is ingested, until `finefinance run` has rebuilt what they
        # call for: a cycle that ingests a correction to a closed month (and even one that fails
        # after ingesting it) leaves that month to the next run (it starts from the oldest marks)
        remember_marks(settings, marks)
        _, alerts_before, _ = _counts(settings, None)
        live = code_location(settings).resolve_job_def("live")
        result = execute_quietly(live, settings, instance=instance, tags=RUNNER_TAGS)
        report = CycleReport()
        failures = RunReport()
        report_failures(result, failures, settings, "live cycle")
        report.failed_checks = failures.failed_checks
        report.changed_rows, alerts_after, report.booked_today = _counts(settings, marks)
        report.new_alerts = alerts_after - alerts_before
        con = connect_duckdb(settings, read_only=True)
        try:
            earliest = earliest_changed_month(con, marks)
        finally:
            con.close()
        window = rebuild_range(earliest, monthly_partitions(settings).get_partition_keys())
        if window is not None:
            report.closed_months_touched = window[0]
        report.seconds = round(time.monotonic() - started, 1)
        return report


def run_live(settings: Settings, once: bool, interval: float, echo=print) -> None:
    """Cycles until interrupted (or one with `once`); a failed cycle is reported and the next one
    tries again, as the schedule would."""
    while True:
        started = time.monotonic()
        try:
            echo(run_live_cycle(settings, echo).summary())
        except PipelineFailed as exc:
            if once:
                raise
            echo(f"error: {exc} (next cycle in {interval:.0f} s)")
        if once:
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
