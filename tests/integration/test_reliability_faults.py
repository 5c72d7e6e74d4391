"""Faults (issue 7): a run killed at several points, late data caught by a crash, two runs at once,
months re-run again and again, the source going down in the middle of an ingestion.

Every outcome is compared with a clean run of the same data (the session's XS platform): row
counts and checksums of every raw, snapshot and mart table must be identical.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import time
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import psycopg2
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from dagster import DagsterInstance, materialize
from helpers.environment import clone_source, reader_dsn
from helpers.reliability import (
    differences,
    fingerprint,
    platform_child_env,
    run_marked,
    start_flaky_proxy,
)

from finefinance_platform.ingestion import ingestion_resources
from finefinance_platform.months import add_months
from finefinance_platform.orchestration.late_data import high_water_marks, read_record
from finefinance_platform.settings import get_settings, load_settings

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=5)

MONTHS = [add_months(XS_FIRST_MONTH, i).isoformat() for i in range(XS_MONTHS)]
FINEFINANCE = str(Path(sys.executable).parent / "finefinance")

# where each run is killed (SIGKILL of its whole process group, dbt included), in this order
KILL_POINTS = [
    # dlt reading the source tables (nothing loaded yet)
    ("extract", {}),
    # raw.transaction's rows committed by dlt's load job, before dlt records the job as done
    ("load-job-committed transaction", {"RELIABILITY_HOLD_AFTER_LOADING": "transaction"}),
    # the daily dbt build half done: staging rebuilt, the snapshot and dimensions not yet
    ("dbt-model-done stg_transaction", {}),
    # the months' dbt build half done: statements written for the window, the other marts not
    ("dbt-model-done fct_monthly_statement", {}),
]
LOCK_ERRORS = ("Could not set lock", "Conflicting lock", "IO Error", "database is locked", "stayed locked")


@pytest.fixture(scope="module")
def site(xs_platform, tmp_path_factory):
    """A copy of the XS source and an empty warehouse and home: runs start from nothing here."""
    root = tmp_path_factory.mktemp("faults")
    dsn = clone_source(xs_platform, "faults")
    warehouse = root / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    return SimpleNamespace(
        dsn=dsn, warehouse=warehouse, home=root / "home", env=platform_child_env(dsn, warehouse, root / "home")
    )


def _built(site) -> None:
    """The site holds a completed run (tests of this module also run alone)."""
    if not site.warehouse.exists() or "marts.fct_monthly_statement" not in fingerprint(site.warehouse):
        outcome = run_marked(site.env)
        assert outcome.returncode == 0, outcome.output[-5000:]


def test_runs_killed_at_four_points_converge_to_a_clean_run(site, xs_platform):
    for marker, extra_env in KILL_POINTS:
        outcome = run_marked({**site.env, **extra_env}, kill_at=marker)
        assert outcome.killed, f"the run never reached {marker!r}:\n{outcome.output[-5000:]}"

    final = run_marked(site.env)
    assert final.returncode == 0, final.output[-5000:]
    assert final.report["months"] == MONTHS
    # the run the last kill left STARTED (holding the warehouse pool's slot) was cleaned up
    assert "left unfinished by a crash as failed" in final.output

    recovered = fingerprint(site.warehouse)
    clean = fingerprint(xs_platform["warehouse"])
    assert differences(recovered, clean) == {}
    assert len(recovered) >= 8 + 1 + 14  # raw tables, the snapshot, the marts
    # no duplicate, no lost row: every raw table has as many distinct rows as the source has rows
    with closing(psycopg2.connect(site.dsn)) as conn, conn.cursor() as cur:
        for table in ("customer", "account", "transaction", "balance"):
            schema = "crm" if table == "customer" else "banking"
            cur.execute(f"select count(*) from {schema}.{table}")
            source_rows = cur.fetchone()[0]
            rows, distinct_rows, _ = recovered[f"raw.{table}"]
            assert rows == distinct_rows == source_rows, table


def _complete_late_transaction(dsn: str, month: str) -> tuple[str, str]:
    """A card payment dated in a closed month, completed (and delivered) only now."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "select account_id::text from banking.account where account_type = 'normal' and open_date < %s "
            "order by account_id limit 1",
            (month,),
        )
        account_id = cur.fetchone()[0]
        cur.execute(
            "insert into banking.transaction (transaction_id, sender_account_id, counterparty, transaction_date,"
            " booked_at, amount, currency, description, category, status) values (gen_random_uuid(), %s,"
            " 'Late shop', %s::date + interval '20 days', %s::date + interval '20 days', 77.70, 'EUR',"
            " 'late card payment', 'card_payment', 'completed') returning transaction_id::text",
            (account_id, month, month),
        )
        transaction_id = cur.fetchone()[0]
        conn.commit()
    return transaction_id, account_id


def _cli_run(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [FINEFINANCE, "run", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_a_crash_after_late_data_then_the_schedule_and_a_backfill_at_once(site, xs_platform):
    """1. Late data is ingested, then the process dies before any month is rebuilt: the next run
    still rebuilds the month it touches (the marks are kept on disk until then).
    2. That run and a backfill of the last two months start together on one warehouse: the
    backfill waits for the schedule's run, both succeed, no lock error reaches the user.
    3. The months rebuilt again are identical: the marts equal the clean run's plus the late row."""
    _built(site)
    # dated in the last closed month: one month to rebuild keeps the test short; without the kept
    # marks the next run would rebuild none
    late_id, account_id = _complete_late_transaction(site.dsn, MONTHS[-1])

    killed = run_marked(site.env, kill_at="dbt-model-done stg_transaction")
    assert killed.killed, killed.output[-5000:]
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        late_rows = con.execute("select count(*) from raw.transaction where transaction_id = ?", [late_id])
        assert late_rows.fetchone() == (1,)

    lock_file = site.warehouse.with_name(site.warehouse.name + ".run.lock")
    lock_file.write_text("")
    schedule = _cli_run(site.env)
    # the backfill starts once the schedule's run holds the warehouse, so it is the one to wait
    deadline = time.monotonic() + 120
    while not lock_file.read_text().strip():
        assert time.monotonic() < deadline and schedule.poll() is None, "the schedule's run never started"
        time.sleep(0.2)
    backfill = _cli_run(site.env, "--from", MONTHS[-2][:7], "--to", MONTHS[-1][:7])
    outputs = {"schedule": schedule.communicate(timeout=600)[0], "backfill": backfill.communicate(timeout=600)[0]}
    for name, child in (("schedule", schedule), ("backfill", backfill)):
        assert child.returncode == 0, f"{name}:\n{outputs[name][-5000:]}"
        assert not [e for e in LOCK_ERRORS if e in outputs[name]], outputs[name][-5000:]
    assert "waiting for another run to finish" in outputs["backfill"]
    assert "waiting for another run" not in outputs["schedule"]
    assert f"1 month(s) {MONTHS[-1]} .. {MONTHS[-1]}" in outputs["schedule"]
    assert f"2 month(s) {MONTHS[-2]} .. {MONTHS[-1]}" in outputs["backfill"]
    # the late-data marks moved up to raw once the month was rebuilt: nothing is stale any more
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        assert read_record(load_settings(site.env)).marks == high_water_marks(con)

    # the clean run's marts, plus exactly the late payment
    unchanged = {
        "marts.fct_transaction": f"transaction_id <> '{late_id}'",
        "marts.fct_statement_line": f"account_id <> '{account_id}'",
        "marts.fct_monthly_statement": f"account_id <> '{account_id}'",
        "marts.kpi_customers_per_profile": "true",
        "marts.dim_customer": "true",
        "snapshots.snp_customer": "true",
    }
    statement_sql = (
        "select month_start, total_debits, closing_balance from marts.fct_monthly_statement "
        "where account_id = ? order by month_start"
    )
    with (
        duckdb.connect(str(site.warehouse), read_only=True) as con,
        duckdb.connect(str(xs_platform["warehouse"]), read_only=True) as clean,
    ):
        for table, where in unchanged.items():
            sql = f"select count(*), sum(hash(t)::hugeint) from (select * from {table} where {where}) as t"
            assert con.execute(sql).fetchall() == clean.execute(sql).fetchall(), table
        assert con.execute(
            "select month_start, amount from marts.fct_transaction where transaction_id = ?", [late_id]
        ).fetchall() == [(dt.date.fromisoformat(MONTHS[-1]), Decimal("77.70"))]
        rebuilt = con.execute(statement_sql, [account_id]).fetchall()
        before = clean.execute(statement_sql, [account_id]).fetchall()
    moved = Decimal("77.70")
    assert rebuilt[:-1] == before[:-1]
    assert rebuilt[-1] == (before[-1][0], before[-1][1] + moved, before[-1][2] - moved)


def test_warehouse_writers_are_serialised_by_dagster_too():
    """For runs the daemon launches (the schedule, a backfill from the UI): the writing steps share
    the pool `warehouse` of one slot and the writing runs carry a tag limited to one at a time."""
    from finefinance_platform.definitions import defs
    from finefinance_platform.orchestration.instance import LOCAL_INSTANCE_CONFIG

    writers = []
    for job_name in ("daily_refresh", "close_month", "live"):
        job = defs.resolve_job_def(job_name)
        assert job.tags["finefinance/warehouse"] == "writer"
        writers += [node for node in job.graph.node_defs if node.tags.get("finefinance/warehouse") == "writer"]
    assert {node.name for node in writers} == {"ingest_operational_source", "dbt_unpartitioned", "dbt_monthly"}
    assert {node.pool for node in writers} == {"warehouse"}
    concurrency = LOCAL_INSTANCE_CONFIG["concurrency"]
    assert concurrency["pools"]["default_limit"] == 1
    writer_limit = {"key": "finefinance/warehouse", "value": "writer", "limit": 1}
    assert writer_limit in concurrency["runs"]["tag_concurrency_limits"]
    # and beside the command line's runs: every run of the code location holds the run lock
    # (tests/integration/test_commands_together.py::test_a_command_and_a_run_the_daemon_launched)
    assert defs.executor.name == "in_process_under_the_run_lock"


def test_a_sensor_looks_at_the_warehouse_only_between_runs(xs_platform, tmp_path, monkeypatch):
    """The late-data sensor's read-only look, held while a run's step opens the file, would fail
    that step: while a run holds the warehouse's run lock the sensor skips its tick."""
    from dagster import SkipReason, build_sensor_context

    from finefinance_platform.file_lock import held as file_held
    from finefinance_platform.orchestration.run_safety import run_lock_path
    from finefinance_platform.orchestration.sensors import late_data_sensor
    from finefinance_platform.warehouse import WarehouseResource

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(xs_platform["warehouse"], warehouse)
    monkeypatch.setenv("FINEFINANCE_HOME", str(tmp_path))
    monkeypatch.setenv("FINEFINANCE_DUCKDB_PATH", str(warehouse))
    tick = {
        "instance": DagsterInstance.ephemeral(),
        "resources": {"warehouse": WarehouseResource(settings=get_settings())},
    }
    with (
        file_held(run_lock_path(get_settings()), "", holder="finefinance run"),
        build_sensor_context(**tick) as context,
    ):
        skipped = late_data_sensor(context)
    assert isinstance(skipped, SkipReason) and "a run is writing the warehouse" in skipped.skip_message
    # no run: it reads the warehouse (a first tick records the marks)
    with build_sensor_context(**tick) as context:
        looked = late_data_sensor(context)
    assert isinstance(looked, SkipReason) and "marks recorded" in looked.skip_message


def test_the_source_going_down_mid_ingestion_fails_clearly_and_the_next_run_recovers(xs_clone, monkeypatch):
    import finefinance_platform.ingestion.dlt_ingestion as dlt_ingestion
    from finefinance_platform.runs.pipeline import PipelineFailed, run_pipeline

    # every transaction changes at the source: the next ingestion reads them all again
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute(
            "update banking.transaction set description = coalesce(description, '') || ' (corrected)', "
            "updated_at = now()"
        )
        changed = cur.rowcount
        conn.commit()
    raw_before = fingerprint(xs_clone["warehouse"], schemas=("raw",))

    port = int(xs_clone["dsn"].rsplit(":", 1)[1].split("/")[0])
    proxy, proxy_port = start_flaky_proxy(port, budget=300_000)
    try:
        monkeypatch.setenv(
            "FINEFINANCE_SOURCE_READER_URL", reader_dsn(xs_clone["dsn"]).replace(f":{port}/", f":{proxy_port}/")
        )
        monkeypatch.setattr(dlt_ingestion, "SOURCE_CONNECT_ATTEMPTS", 2)
        started = time.monotonic()
        with pytest.raises(PipelineFailed) as failed:
            run_pipeline(get_settings(), echo=lambda *_: None, instance=DagsterInstance.ephemeral())
        elapsed = time.monotonic() - started
        assert proxy.wait(timeout=5) == 0  # the proxy went down mid-read, taking the port with it
    finally:
        proxy.kill()
    message = str(failed.value)
    assert "step ingest_operational_source" in message
    assert "went down during ingestion and is unreachable after 2 attempts" in message
    assert "nothing of this run was loaded" in message
    assert "\n" not in message and elapsed < 120
    # nothing half-written: raw is exactly as before the run
    assert differences(fingerprint(xs_clone["warehouse"], schemas=("raw",)), raw_before) == {}

    # the source is back: the next ingestion loads every change once
    monkeypatch.setenv("FINEFINANCE_SOURCE_READER_URL", reader_dsn(xs_clone["dsn"]))
    assert materialize([dlt_ingestion.raw_tables()], resources=ingestion_resources(get_settings())).success
    with duckdb.connect(str(xs_clone["warehouse"]), read_only=True) as con:
        rows, corrected = con.execute(
            "select count(*), count(*) filter (where description like '% (corrected)') from raw.transaction"
        ).fetchone()
    assert rows == corrected == changed
