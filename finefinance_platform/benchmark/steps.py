"""One benchmark step per process: `python -m finefinance_platform.benchmark.steps STEP ARGS RESULT`.

The harness starts each step in a fresh interpreter whose environment points the settings at the
benchmark's own FINEFINANCE_HOME, so a step's peak memory is its own (`ru_maxrss` of this process,
and of the largest child it waited for, such as dbt). A step writes its figures as JSON to RESULT.
Timings start after the imports: they measure the work, not the interpreter's start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg2

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.settings import DBT_PROJECT_DIR, Settings, get_settings
from finefinance_platform.source.tables import SOURCE_TABLES
from finefinance_platform.transformation.dbt_process import DBT_COMMAND

STEPS: dict[str, Callable[..., dict]] = {}


def step(function: Callable[..., dict]) -> Callable[..., dict]:
    STEPS[function.__name__] = function
    return function


def dagster_instance(kind: str, settings: Settings):
    """The Dagster instance of a step: the benchmark home's local one (SQLite, as `finefinance run`
    uses), or an in-memory one (no event-log writes: the platform's own work only)."""
    from dagster import DagsterInstance

    from finefinance_platform.orchestration.instance import local_instance

    if kind == "ephemeral":
        return DagsterInstance.ephemeral()
    return local_instance(settings)


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def _raw_row_counts(con) -> dict[str, int]:
    return {t.name: con.execute(f'select count(*) from raw."{t.name}"').fetchone()[0] for t in SOURCE_TABLES}


# -- source ----------------------------------------------------------------------------------------


@step
def simulate(settings: Settings, customers: int, months: int, seed: int, start: str) -> dict:
    from finefinance_platform.source.simulator import simulate as run_simulation

    summary = run_simulation(
        settings.source_url(),
        customers=customers,
        months=months,
        seed=seed,
        start=dt.date.fromisoformat(start),
        replace=True,
    )
    rows = sum(summary.rows.values())
    return {
        "seconds": summary.seconds,
        "rows": rows,
        "rows_per_table": summary.rows,
        "rows_per_second": rows / summary.seconds,
        "first_month": summary.first_month.isoformat(),
        "last_month": summary.last_month.isoformat(),
    }


@step
def trickle(settings: Settings, customers: int, seed: int) -> dict:
    """About one day of a live bank: customers × 15 / 30 new transactions, settlements, updates."""
    from finefinance_platform.source.simulation_trickle import NEW_TRANSACTIONS_PER_BATCH, run_trickle

    day_of_transactions = customers * 15 / 30
    # a batch inserts Poisson(NEW_TRANSACTIONS_PER_BATCH) + 1 transactions
    batches = max(1, round(day_of_transactions / (NEW_TRANSACTIONS_PER_BATCH + 1)))
    dsn = settings.source_url()
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("select now()")
        began_at = cur.fetchone()[0]
    started = time.perf_counter()
    summary = run_trickle(
        dsn,
        seed=seed,
        interval_seconds=0,
        max_batches=batches,
        echo=lambda line: log(line) if line.startswith(("batch 1:", f"batch {batches}:")) else None,
    )
    seconds = time.perf_counter() - started
    # what incremental ingestion must move: every row the trickle inserted or updated, balance
    # restatements included (its own summary does not count those)
    changed = {}
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        for table in SOURCE_TABLES:
            cur.execute(f"select count(*) from {table.qualified_name} where updated_at >= %s", (began_at,))
            changed[table.name] = cur.fetchone()[0]
    return {
        "seconds": seconds,
        "batches": summary.batches,
        "inserted": summary.inserted,
        "updated": summary.updated,
        "rows_changed": sum(changed.values()),
        "rows_changed_per_table": changed,
    }


# -- ingestion -------------------------------------------------------------------------------------


@step
def ingest(settings: Settings, instance: str) -> dict:
    """The real ingestion asset (`raw_tables`, all 8 tables) materialized in a Dagster run."""
    import dlt
    from dagster import materialize

    from finefinance_platform.ingestion import ingestion_resources
    from finefinance_platform.ingestion.dlt_ingestion import PIPELINE_NAME, raw_tables
    from finefinance_platform.library_log import library_output_to_log
    from finefinance_platform.runs.pipeline import QUIET_LOGS
    from finefinance_platform.warehouse import connect_duckdb

    started = time.perf_counter()
    with library_output_to_log(settings):
        result = materialize(
            [raw_tables()],
            resources=ingestion_resources(settings),
            instance=dagster_instance(instance, settings),
            run_config=QUIET_LOGS,
        )
    seconds = time.perf_counter() - started
    if not result.success:
        raise FineFinanceError("the ingestion run failed")

    trace = dlt.attach(PIPELINE_NAME, pipelines_dir=str(settings.home / "dlt")).last_trace
    phases = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2) for s in trace.steps}
    # rows this run moved: what dlt normalized and loaded (a merged update counts once)
    normalized = trace.last_normalize_info.row_counts if trace.last_normalize_info else {}
    moved = {t.name: normalized.get(t.name, 0) for t in SOURCE_TABLES}
    con = connect_duckdb(settings, read_only=True)
    try:
        rows = sum(_raw_row_counts(con).values())
    finally:
        con.close()
    return {
        "seconds": seconds,
        "rows": rows,
        "rows_moved": sum(moved.values()),
        "rows_moved_per_table": moved,
        "rows_per_second": sum(moved.values()) / seconds,
        "dlt_phases_seconds": phases,
        "run_id": result.run_id,
    }


@step
def bulk_copy_baseline(settings: Settings) -> dict:
    """The floor: each table PostgreSQL -> ConnectorX -> Arrow batches -> `CREATE TABLE` in DuckDB.

    Same reader, same batch size, same source role as the ingestion, into a separate DuckDB file;
    what it leaves out (incremental state, merge keys, load metadata) is what ingestion adds.
    """
    import connectorx
    import duckdb

    from finefinance_platform.ingestion.dlt_ingestion import BATCH_ROWS

    path = settings.home / "baseline.duckdb"
    path.unlink(missing_ok=True)
    reader_url = settings.source_url(reader=True)
    per_table = {}
    started = time.perf_counter()
    # the same DuckDB memory budget as the ingestion's
    con = duckdb.connect(str(path), config={"memory_limit": settings.duckdb_memory_limit})
    try:
        for table in SOURCE_TABLES:
            table_started = time.perf_counter()
            batches = connectorx.read_sql(
                reader_url,
                f"select * from {table.qualified_name}",
                return_type="arrow_stream",
                batch_size=BATCH_ROWS,
            )
            con.register("batches", batches)
            con.execute(f'create table "{table.name}" as select * from batches')
            con.unregister("batches")
            per_table[table.name] = round(time.perf_counter() - table_started, 2)
        con.execute("checkpoint")
        rows = sum(con.execute(f'select count(*) from "{t.name}"').fetchone()[0] for t in SOURCE_TABLES)
    finally:
        con.close()
    seconds = time.perf_counter() - started
    path.unlink(missing_ok=True)
    return {"seconds": seconds, "rows": rows, "rows_per_second": rows / seconds, "seconds_per_table": per_table}


# -- transformation --------------------------------------------------------------------------------


def _dbt(*args: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [str(DBT_COMMAND), *args, "--profiles-dir", str(DBT_PROJECT_DIR)],  # dbt as the runs start it
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        check=False,
    )


@step
def dbt_startup(settings: Settings, month_start: str, month_end: str) -> dict:
    """dbt's fixed cost per invocation: a run that selects nothing, as Dagster starts dbt (the month
    window in the environment, the target of the runs: partial parsing holds)."""
    started = time.perf_counter()
    noop = _dbt("run", "--select", "tag:bench_selects_nothing", "--target", settings.dbt_target,
                environment={"FINEFINANCE_MONTH_START": month_start, "FINEFINANCE_MONTH_END": month_end})  # fmt: skip
    seconds = time.perf_counter() - started
    if noop.returncode != 0:
        raise FineFinanceError(f"dbt no-op run failed:\n{noop.stdout[-2000:]}")
    return {"seconds": seconds}


def _dbt_timings(run_id: str, settings: Settings) -> dict:
    """What dbt spent in a Dagster run, from its invocations' run_results.json: the invocations'
    elapsed time, the time per node type (summed over dbt's threads) and the slowest nodes."""
    from finefinance_platform.transformation.dbt_assets import dbt_target_folder

    elapsed, invocation, by_type, nodes = 0.0, 0.0, {}, []
    for results_file in dbt_target_folder(settings.home).glob(f"*-{run_id[:7]}-*/run_results.json"):
        results = json.loads(results_file.read_text())
        elapsed += results["elapsed_time"]
        # from dbt's start (before it loads the project) to its results: dbt's own time, parse included
        metadata = results["metadata"]
        invocation += (
            dt.datetime.fromisoformat(metadata["generated_at"].replace("Z", "+00:00"))
            - dt.datetime.fromisoformat(metadata["invocation_started_at"].replace("Z", "+00:00"))
        ).total_seconds()
        for result in results["results"]:
            kind = result["unique_id"].split(".")[0]
            by_type[kind] = round(by_type.get(kind, 0.0) + result["execution_time"], 2)
            nodes.append({"node": result["unique_id"].split(".", 2)[-1], "type": kind,
                          "seconds": round(result["execution_time"], 2)})  # fmt: skip
    nodes.sort(key=lambda node: -node["seconds"])
    # the staging table the live cadence made incremental, named whether or not among the slowest
    staging = [node["seconds"] for node in nodes if node["node"] == "base_transaction"]
    return {"dbt_elapsed_seconds": round(elapsed, 2), "dbt_invocation_seconds": round(invocation, 2),
            "seconds_by_node_type": by_type, "slowest_nodes": nodes[:10],
            "base_transaction_seconds": staging[0] if staging else None}  # fmt: skip


def _execute_job(settings: Settings, name: str, instance: str, marts_only: bool = False, **kwargs) -> dict:
    """Run a job of the definitions in process, as `finefinance run` does.

    `marts_only` keeps the month-grain dbt models (and their checks) of `close_month` and leaves out
    the deliveries hanging off them: the statement documents are measured by the export step.
    """
    from finefinance_platform.definitions import code_location
    from finefinance_platform.runs.pipeline import execute_quietly
    from finefinance_platform.transformation.dbt_assets import dbt_models

    job = code_location(settings).resolve_job_def(name)
    if marts_only:
        monthly = dbt_models(settings).monthly
        kwargs["asset_selection"] = sorted(monthly.keys, key=lambda key: key.to_user_string())
    dagster = dagster_instance(instance, settings)
    started = time.perf_counter()
    result = execute_quietly(job, settings, instance=dagster, **kwargs)
    seconds = time.perf_counter() - started
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        raise FineFinanceError(f"job {name} failed: {failure.message if failure else 'see the run logs'}")
    evaluations = result.get_asset_check_evaluations()
    failed_checks = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    log(f"{len(result.get_asset_materialization_events())} materializations, {len(evaluations)} checks")
    if failed_checks:
        log(f"failed checks: {', '.join(failed_checks)}")
    # the Dagster step that ran dbt, against dbt's own time inside it
    dbt_steps = [
        stats.end_time - stats.start_time
        for stats in dagster.get_run_step_stats(result.run_id)
        if stats.step_key in {"dbt_monthly", "dbt_unpartitioned"} and stats.end_time and stats.start_time
    ]
    # the dbt process as its step saw it, from start to exit (dbt_assets.with_row_counts records it)
    dbt_process = {
        event.step_key: event.step_materialization_data.materialization.metadata["dbt_process_seconds"].value
        for event in result.get_asset_materialization_events()
        if "dbt_process_seconds" in event.step_materialization_data.materialization.metadata
    }
    return {"seconds": seconds, "run_id": result.run_id, "dbt_step_seconds": round(sum(dbt_steps), 2),
            "dbt_process_seconds": round(sum(dbt_process.values()), 2),
            **_dbt_timings(result.run_id, settings)}  # fmt: skip


@step
def refresh(settings: Settings, instance: str) -> dict:
    """The `daily_refresh` job: ingestion (nothing new here) and the unpartitioned dbt models."""
    return _execute_job(settings, "daily_refresh", instance)


@step
def backfill(settings: Settings, first_month: str, last_month: str, instance: str) -> dict:
    """The marts of `close_month` over every month in one run (the single-run backfill policy)."""
    return _execute_job(
        settings,
        "close_month",
        instance,
        marts_only=True,
        tags={"dagster/asset_partition_range_start": first_month, "dagster/asset_partition_range_end": last_month},
    )


@step
def month(settings: Settings, month: str, instance: str) -> dict:
    """One month re-materialized alone, with the months before it already built."""
    return {"month": month, **_execute_job(settings, "close_month", instance, marts_only=True, partition_key=month)}


@step
def finefinance_run(settings: Settings, start: str | None = None, end: str | None = None) -> dict:
    """`finefinance run` as a person runs it (its lock, ingestion, refresh, months, statement files),
    on the benchmark's platform; the harness times it with the interpreter's start-up too."""
    from finefinance_platform.months import parse_month
    from finefinance_platform.runs.pipeline import run_pipeline

    months = [parse_month(month) if month else None for month in (start, end)]
    started = time.perf_counter()
    report = run_pipeline(settings, *months, echo=log)
    return {"seconds": time.perf_counter() - started, "phases": report.seconds, "months": len(report.months),
            "statement_files": report.documents}  # fmt: skip


@step
def sql_floor(settings: Settings, first_month: str, last_month: str) -> dict:
    """`floor.sql`: the same marts straight from raw in one DuckDB script, into schema bench_floor."""
    from finefinance_platform.warehouse import connect_duckdb

    script = (Path(__file__).with_name("floor.sql")).read_text()
    con = connect_duckdb(settings)
    try:
        con.execute("drop schema if exists bench_floor cascade")
        # the same DuckDB memory budget as dbt's (profiles.yml)
        con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
        con.execute(f"set variable first_month = date '{dt.date.fromisoformat(first_month)}'")
        con.execute(f"set variable last_month = date '{dt.date.fromisoformat(last_month)}'")
        started = time.perf_counter()
        con.execute(script)
        seconds = time.perf_counter() - started
        agreement = _floor_agreement(con)
        con.execute("drop schema bench_floor cascade")
    finally:
        con.close()
    return {"seconds": seconds, "agrees_with_marts": agreement}


def _floor_agreement(con) -> dict[str, bool]:
    """Do the floor's figures equal the marts'? (Else the floor would not be doing the same work.)"""
    checks = {
        "fct_monthly_statement": "select count(*), sum(closing_balance), sum(transaction_count) from {}",
        "fct_statement_line": "select count(*), sum(running_balance) from {}",
        "fct_customer_month": "select count(*), sum(month_end_balance), sum(withdrawals), sum(loans_outstanding), "
        "sum(investments_held), sum(months_in_red), sum(high_withdrawals_months + high_loans_months "
        "+ high_investments_months) from {}",
        "advisor_budget_support": "select count(*), sum(months_in_red) from {}",
        "advisor_upgrade_candidates": "select count(*), sum(high_withdrawals_months) from {}",
        "kpi_monthly_growth": "select count(*), sum(revenue), sum(transaction_amount), sum(new_customers) from {}",
        "kpi_transactions_per_month": "select count(*), sum(transaction_amount) from {}",
    }
    agreement = {}
    for table, query in checks.items():
        try:
            marts = con.execute(query.format(f"marts.{table}")).fetchone()
        except Exception:  # noqa: BLE001 - a mart that is not built yet: nothing to compare
            continue
        floor = con.execute(query.format(f"bench_floor.{table}")).fetchone()
        agreement[table] = marts == floor
    return agreement


# -- statements ------------------------------------------------------------------------------------


@step
def export(settings: Settings, month: str, formats: list[str]) -> dict:
    from finefinance_platform.statements.export import export_month
    from finefinance_platform.statements.issuing.issue import issue_month
    from finefinance_platform.warehouse import connect_duckdb

    con = connect_duckdb(settings, read_only=False)
    try:
        # the files are rendered from the issued statements: the backfill built the marts only
        started = time.monotonic()
        issued = issue_month(con, dt.date.fromisoformat(month))
        issue_seconds = time.monotonic() - started
        result = export_month(
            con,
            dt.date.fromisoformat(month),
            formats=tuple(formats),
            folder=settings.home / "statements" / month[:7],
            progress=False,
        )
    finally:
        con.close()
    return {
        "seconds": result.seconds,
        "issue_seconds": round(issue_seconds, 2),
        "issued": issued.issued,
        "statements": result.customers,
        "files": result.files,
        "formats": formats,
        "statements_per_second": result.statements_per_second,
    }


# -- live ----------------------------------------------------------------------------------------


@step
def refresh_after_changes(settings: Settings, instance: str) -> dict:
    """The `daily_refresh` job after a day of changes (the trickle step before it): staging merges
    the changed keys only; the first refresh built it from all of raw."""
    return _execute_job(settings, "daily_refresh", instance)


@step
def live_cycle(settings: Settings, trickle_batches: int, seed: int, instance: str) -> dict:
    """One cycle of the `live` job as it runs every few minutes: a first cycle catches up (it
    publishes the serving copy of the marts the backfill built, a one-off), then a minute of a
    live bank (a batch a second), then the measured cycle."""
    from finefinance_platform.source.simulation_trickle import run_trickle

    catch_up = _execute_job(settings, "live", instance)
    log(f"first cycle (catching up): {catch_up['seconds']:.1f} s")
    summary = run_trickle(settings.source_url(), seed=seed, interval_seconds=1.0,
                          max_batches=trickle_batches, echo=lambda _line: None)  # fmt: skip
    log(f"trickle: {summary.batches} batches, {summary.inserted} rows inserted, {summary.updated} updated")
    figures = _execute_job(settings, "live", instance)
    return {**figures, "batches": summary.batches, "catch_up_seconds": catch_up["seconds"]}


@step
def live_once(settings: Settings, trickle_batches: int, seed: int) -> dict:
    """`finefinance live --once` as a person runs it after a minute of a live bank (a batch a
    second): the wall time of the process, its start and the code location's load included."""
    from finefinance_platform.source.simulation_trickle import run_trickle

    summary = run_trickle(settings.source_url(), seed=seed, interval_seconds=1.0,
                          max_batches=trickle_batches, echo=lambda _line: None)  # fmt: skip
    started = time.perf_counter()
    _run_command(["live", "--once"])
    seconds = time.perf_counter() - started
    log(f"after {summary.batches} batches of trickle: finefinance live --once in {seconds:.1f} s")
    return {"seconds": seconds, "batches": summary.batches}


# -- start-up ------------------------------------------------------------------------------------

# commands that run no pipeline, which answer at once: `--help` imports every command's module
LIGHT_COMMANDS = (("--help",), ("source", "status"), ("users", "--sample"), ("access-log", "--limit", "1"))


def _run_command(arguments: list[str], python: bool = False) -> float:
    """The wall time of a fresh process running `finefinance ARGUMENTS` (or `python ARGUMENTS`)."""
    program = sys.executable if python else str(Path(sys.executable).parent / "finefinance")
    started = time.perf_counter()
    done = subprocess.run([program, *arguments], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise FineFinanceError(f"{' '.join(arguments)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


@step
def start_up(settings: Settings, repeats: int) -> dict:
    """How soon the code location loads (`import finefinance_platform.definitions`, what every run's
    process, `dagster dev` and each command that runs a job pay first) and the commands that run no
    pipeline answer: each a fresh process, `repeats` times, the fastest counts (a first run also
    starts what a command needs running, such as the identity provider of `users`)."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider

    started = time.perf_counter()
    definitions = [_run_command(["-c", "import finefinance_platform.definitions"], python=True) for _ in range(repeats)]
    try:
        commands = {
            " ".join(command): [_run_command(list(command)) for _ in range(repeats)] for command in LIGHT_COMMANDS
        }
    finally:
        # `users` starts the embedded identity provider (its demo users come from the marts)
        EmbeddedIdentityProvider(settings).stop()
    log(f"definitions imported in {min(definitions):.2f} s; "
        + ", ".join(f"{name} {min(runs):.2f} s" for name, runs in commands.items()))  # fmt: skip
    return {
        "seconds": time.perf_counter() - started,
        "definitions_import_seconds": min(definitions),
        "definitions_import_runs_seconds": [round(run, 2) for run in definitions],
        "commands_seconds": {name: min(runs) for name, runs in commands.items()},
        "commands_runs_seconds": {name: [round(run, 2) for run in runs] for name, runs in commands.items()},
    }


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile; pure, unit-tested."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def lags_from_cycles(commits: list[float], cycles: list[tuple[float, float]]) -> list[float]:
    """Seconds from each source commit to the end of the first live cycle whose ingestion started
    after it (that ingestion read it: dlt reads the rows past its cursor when it starts). Pure,
    unit-tested; a commit no cycle read is left out (the caller waits for one more cycle)."""
    lags = []
    for committed in commits:
        ends = [end for start, end in cycles if start >= committed]
        if ends:
            lags.append(min(ends) - committed)
    return lags


@step
def live_lag(settings: Settings, minutes: float, interval: float, seed: int) -> dict:
    """`finefinance live` running beside a trickle for `minutes`: the lag from each transaction's
    commit at the source to the live cycle that put it in the intraday marts."""
    import contextlib
    import os
    import signal

    from dagster import DagsterRunStatus, RunsFilter

    from finefinance_platform.orchestration.instance import local_instance
    from finefinance_platform.source.simulation_trickle import run_trickle

    dsn = settings.source_url()

    def source_now() -> float:
        with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("select extract(epoch from now())")
            return float(cur.fetchone()[0])

    # its own process group: stopping it stops the dbt process of a cycle under way too, which would
    # otherwise outlive it and write into a benchmark home that is being removed
    live = subprocess.Popen([str(Path(sys.executable).parent / "finefinance"), "live", "--interval", str(interval)],
                            env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    began = source_now()
    instance = local_instance(settings)
    try:
        summary = run_trickle(dsn, seed=seed, interval_seconds=1.0, max_batches=max(1, round(minutes * 60)),
                              echo=lambda _line: None)  # fmt: skip
        ended = source_now()
        log(f"trickle: {summary.batches} batches over {ended - began:.0f} s; waiting for a cycle after it")
        deadline = time.time() + 2 * interval + 300
        done = RunsFilter(job_name="live", statuses=[DagsterRunStatus.SUCCESS])
        while time.time() < deadline:
            if any(record.start_time and record.start_time >= ended for record in instance.get_run_records(done)):
                break
            time.sleep(2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(live.pid, signal.SIGINT)
        try:
            live.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(live.pid, signal.SIGKILL)  # whatever is left of the group
        live.wait()
    cycles = []
    for run in instance.get_runs(RunsFilter(job_name="live", statuses=[DagsterRunStatus.SUCCESS])):
        stats = {s.step_key: s for s in instance.get_run_step_stats(run.run_id)}
        ingestion = stats.get("ingest_operational_source")
        record = instance.get_run_record_by_id(run.run_id)
        if ingestion and ingestion.start_time and record and record.end_time:
            cycles.append((ingestion.start_time, record.end_time))
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("select extract(epoch from updated_at) from banking.transaction "
                    "where status = 'completed' and updated_at between to_timestamp(%s) and to_timestamp(%s)",
                    (began, ended))  # fmt: skip
        commits = [float(row[0]) for row in cur.fetchall()]
    lags = lags_from_cycles(commits, cycles)
    if not lags:
        raise FineFinanceError("no live cycle read the trickled transactions: see `finefinance live`")
    durations = sorted(end - start for start, end in cycles)
    return {
        "seconds": ended - began,
        "transactions": len(commits),
        "measured": len(lags),
        "cycles": len(cycles),
        "interval_seconds": interval,
        "cycle_seconds_median": durations[len(durations) // 2],
        "lag_p50_seconds": percentile(lags, 0.50),
        "lag_p95_seconds": percentile(lags, 0.95),
        "lag_max_seconds": max(lags),
    }


def main(argv: list[str]) -> int:
    name, arguments, result_path = argv
    # the edge of a step's process: its settings are read here, once, and handed to the step
    figures = STEPS[name](get_settings(), **json.loads(arguments))
    figures["own_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    figures["child_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    Path(result_path).write_text(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
