"""Faults (issue 7): a run killed at several points, late data caught by a crash, two runs at once,
months re-run again and again, the source going down in the middle of an ingestion.

Every outcome is compared with a clean run of the same data (the session's XS platform): row
counts and checksums of every raw, snapshot and mart table must be identical.
"""

from __future__ import annotations

import datetime as dt
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
from dagster_dlt import DagsterDltResource
from pipeline_helpers import reader_dsn
from reliability_helpers import (
    clone_source,
    differences,
    fingerprint,
    platform_child_env,
    run_marked,
    start_flaky_proxy,
)

from finefinance_platform.settings import add_months, get_settings

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
    return SimpleNamespace(dsn=dsn, warehouse=warehouse, home=root / "home",
                           env=platform_child_env(dsn, warehouse, root / "home"))


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
            " amount, currency, description, category, status) values (gen_random_uuid(), %s, 'Late shop',"
            " %s::date + interval '20 days', 77.70, 'EUR', 'late card payment', 'card_payment', 'completed')"
            " returning transaction_id::text",
            (account_id, month),
        )
        transaction_id = cur.fetchone()[0]
        conn.commit()
    return transaction_id, account_id


def test_a_crash_between_ingestion_and_the_months_loses_no_late_data(site):
    _built(site)
    # dated in the last closed month: one month to rebuild keeps the test short; without the kept
    # marks the next run would rebuild none
    late_id, account_id = _complete_late_transaction(site.dsn, MONTHS[-1])
    statement_sql = "select closing_balance from marts.fct_monthly_statement where account_id = ? and month_start = ?"
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        closing_before = con.execute(statement_sql, [account_id, MONTHS[-1]]).fetchone()[0]

    # the late row is ingested, then the process dies before any month is rebuilt
    killed = run_marked(site.env, kill_at="dbt-model-done stg_transaction")
    assert killed.killed, killed.output[-5000:]
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        late_rows = con.execute("select count(*) from raw.transaction where transaction_id = ?", [late_id])
        assert late_rows.fetchone() == (1,)

    # the next run still knows which months the late row touches
    final = run_marked(site.env)
    assert final.returncode == 0, final.output[-5000:]
    assert final.report["months"] == MONTHS[-1:]
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        assert con.execute("select month_start, amount from marts.fct_transaction where transaction_id = ?",
                           [late_id]).fetchall() == [(dt.date.fromisoformat(MONTHS[-1]), Decimal("77.70"))]
        assert con.execute(statement_sql, [account_id, MONTHS[-1]]).fetchone()[0] == closing_before - Decimal("77.70")
    assert not (site.home / "state" / "pending_late_data_marks.json").exists()


def test_a_backfill_and_the_schedule_at_once_wait_for_each_other(site):
    """Two `finefinance run` on one warehouse at once: one waits for the other, both succeed, no
    lock error reaches the user, and months rebuilt twice more are identical."""
    _built(site)
    before = fingerprint(site.warehouse)
    commands = {
        "backfill": [FINEFINANCE, "run", "--from", MONTHS[-2][:7], "--to", MONTHS[-1][:7]],
        "schedule": [FINEFINANCE, "run", "--from", MONTHS[-1][:7], "--to", MONTHS[-1][:7]],
    }
    children = {
        name: subprocess.Popen(command, env=site.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, command in commands.items()
    }
    outputs = {name: child.communicate(timeout=600)[0] for name, child in children.items()}
    for name, child in children.items():
        assert child.returncode == 0, f"{name}:\n{outputs[name][-5000:]}"
        assert not [e for e in LOCK_ERRORS if e in outputs[name]], outputs[name][-5000:]
    waited = [name for name, text in outputs.items() if "waiting for another run to finish" in text]
    assert len(waited) == 1, outputs
    assert differences(fingerprint(site.warehouse), before) == {}


def test_warehouse_writers_are_serialised_by_dagster_too():
    """For runs the daemon launches (the schedule, a backfill from the UI): the writing steps share
    the pool `warehouse` of one slot and the writing runs carry a tag limited to one at a time."""
    from finefinance_platform.definitions import defs
    from finefinance_platform.orchestration.instance import LOCAL_INSTANCE_CONFIG

    writers = []
    for job_name in ("daily_refresh", "close_month"):
        job = defs.resolve_job_def(job_name)
        assert job.tags["finefinance/warehouse"] == "writer"
        writers += [node for node in job.graph.node_defs if node.tags.get("finefinance/warehouse") == "writer"]
    assert {node.name for node in writers} == {"ingest_operational_source", "dbt_unpartitioned", "dbt_monthly"}
    assert {node.pool for node in writers} == {"warehouse"}
    concurrency = LOCAL_INSTANCE_CONFIG["concurrency"]
    assert concurrency["pools"]["default_limit"] == 1
    writer_limit = {"key": "finefinance/warehouse", "value": "writer", "limit": 1}
    assert writer_limit in concurrency["runs"]["tag_concurrency_limits"]


def test_the_source_going_down_mid_ingestion_fails_clearly_and_the_next_run_recovers(xs_clone, monkeypatch):
    import finefinance_platform.ingestion.dlt_ingestion as dlt_ingestion
    from finefinance_platform.orchestration.pipeline import PipelineFailed, run_pipeline

    # every transaction changes at the source: the next ingestion reads them all again
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("update banking.transaction set description = coalesce(description, '') || ' (corrected)', "
                    "updated_at = now()")
        changed = cur.rowcount
        conn.commit()
    raw_before = fingerprint(xs_clone["warehouse"], schemas=("raw",))

    port = int(xs_clone["dsn"].rsplit(":", 1)[1].split("/")[0])
    proxy, proxy_port = start_flaky_proxy(port, budget=300_000)
    try:
        monkeypatch.setenv("FINEFINANCE_SOURCE_READER_URL",
                           reader_dsn(xs_clone["dsn"]).replace(f":{port}/", f":{proxy_port}/"))
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
    assert materialize([dlt_ingestion.raw_tables], resources={"dlt": DagsterDltResource()}).success
    with duckdb.connect(str(xs_clone["warehouse"]), read_only=True) as con:
        rows, corrected = con.execute(
            "select count(*), count(*) filter (where description like '% (corrected)') from raw.transaction"
        ).fetchone()
    assert rows == corrected == changed
