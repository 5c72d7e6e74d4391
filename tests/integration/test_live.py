"""The live cadence (issue 14): a trickle at the source, then `finefinance live` cycles.

The intraday marts are compared with what this file computes from the source itself: today's
activity per booking day and category, and the advisors' alerts replayed booking by booking from
each customer's balance. Staging is incremental: what it holds after cycles equals a rebuild from
all of raw, and a transaction that arrives before its account flows once the account does.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from collections import defaultdict
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg2
import pytest
from dagster import DagsterInstance
from helpers.dbt_runs import run_dbt

from finefinance_platform.months import add_months, current_month
from finefinance_platform.runs.live import run_live_cycle
from finefinance_platform.settings import child_environment, get_settings
from finefinance_platform.source import simulator

pytestmark = pytest.mark.slow(minutes=4)

LARGE_WITHDRAWAL = Decimal("2000")  # dbt var large_withdrawal_threshold
HISTORY_DAYS = 56  # dbt var intraday_history_days


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _quiet(*_args) -> None:
    pass


def source_activity(dsn: str) -> dict[tuple[dt.date, str], tuple[int, Decimal]]:
    """Completed transactions per UTC booking day and category, over the marts' window."""
    since = _today() - dt.timedelta(days=HISTORY_DAYS)
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "select (booked_at at time zone 'UTC')::date, category, count(*), sum(amount) "
            "from banking.transaction where status = 'completed' and (booked_at at time zone 'UTC')::date >= %s "
            "group by 1, 2",
            [since],
        )
        return {(day, category): (count, amount) for day, category, count, amount in cur.fetchall()}


def source_alerts(dsn: str, anchor_end: dt.date) -> set[tuple[str, str, str, Decimal, Decimal]]:
    """(kind, customer, transaction, amount, balance after) of every event booked from `anchor_end`
    on, replayed in Python from the source's completed transactions."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("select account_id::text, customer_id::text from banking.account")
        owner = dict(cur.fetchall())
        cur.execute(
            "select transaction_id::text, sender_account_id::text, receiver_account_id::text, amount, "
            "booked_at at time zone 'UTC' from banking.transaction where status = 'completed' "
            "order by booked_at, transaction_id::text"
        )
        transactions = cur.fetchall()
    balance: dict[str, Decimal] = defaultdict(Decimal)
    events = set()
    boundary = dt.datetime.combine(anchor_end, dt.time())
    for transaction_id, sender, receiver, amount, booked_at in transactions:
        moves: dict[str, Decimal] = defaultdict(Decimal)
        withdrawn: dict[str, Decimal] = defaultdict(Decimal)
        if sender:
            moves[owner[sender]] -= amount
            if not (receiver and owner[receiver] == owner[sender]):
                withdrawn[owner[sender]] += amount
        if receiver:
            moves[owner[receiver]] += amount
        for customer, net in moves.items():
            before = balance[customer]
            balance[customer] = after = before + net
            if booked_at < boundary:
                continue
            if before >= 0 > after:
                events.add(("went_into_red", customer, transaction_id, -net, after))
            if withdrawn[customer] >= LARGE_WITHDRAWAL:
                events.add(("large_withdrawal", customer, transaction_id, withdrawn[customer], after))
    return events


def _rows(warehouse, sql: str) -> list[tuple]:
    with closing(duckdb.connect(str(warehouse), read_only=True)) as con:
        return con.execute(sql).fetchall()


def mart_activity(warehouse) -> dict[tuple[dt.date, str], tuple[int, Decimal]]:
    rows = _rows(
        warehouse,
        "select activity_date, category, transaction_count, transaction_amount from marts.intraday_activity",
    )
    return {(day, category): (count, amount) for day, category, count, amount in rows}


def mart_alerts(warehouse) -> list[tuple]:
    return _rows(
        warehouse,
        "select kind, customer_id, transaction_id, amount, balance_after, alert_id, detected_at, advisor_id "
        "from marts.intraday_alerts order by alert_id",
    )


def _customer_in_the_black(dsn: str) -> tuple[str, str, Decimal]:
    """A customer with a positive balance below the large-withdrawal amount, and one of their EUR
    accounts: (customer, account, balance)."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            """
            with sides as (
                select a.customer_id, -t.amount as signed from banking.transaction t
                join banking.account a on a.account_id = t.sender_account_id where t.status = 'completed'
                union all
                select a.customer_id, t.amount from banking.transaction t
                join banking.account a on a.account_id = t.receiver_account_id where t.status = 'completed'
            ), balances as (select customer_id, sum(signed) as balance from sides group by 1)
            select b.customer_id::text, min(a.account_id::text), b.balance
            from balances b join banking.account a on a.customer_id = b.customer_id
            where b.balance between 100 and 1500 and a.currency = 'EUR' and a.closed_date is null
                and a.account_type = 'normal'
            group by 1, 3 order by 1 limit 1
            """
        )
        return cur.fetchone()


def _book_now(dsn: str, account_id: str, amount: Decimal, category: str = "card_payment") -> str:
    """A completed card payment out of `account_id`, made and booked now; returns its id."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into banking.transaction (transaction_id, sender_account_id, receiver_account_id, "
            "counterparty, transaction_date, amount, currency, description, category, status, booked_at, "
            "created_at, updated_at) values (gen_random_uuid(), %s, null, 'Test shop', now(), %s, 'EUR', "
            "'live test', %s, 'completed', now(), now(), now()) returning transaction_id::text",
            [account_id, amount, category],
        )
        (transaction_id,) = cur.fetchone()
        conn.commit()
    return transaction_id


def test_a_cycle_brings_todays_activity_and_alerts_exactly_once_and_leaves_corrections_to_the_next_run(xs_clone):
    settings = get_settings()
    dsn, warehouse = xs_clone["dsn"], xs_clone["warehouse"]
    instance = DagsterInstance.ephemeral()

    simulator.trickle(dsn, seed=3, interval_seconds=0, max_batches=15)
    customer, account, balance = _customer_in_the_black(dsn)
    into_the_red = _book_now(dsn, account, balance + Decimal("50.00"))

    report = run_live_cycle(settings, echo=_quiet, instance=instance)
    assert sum(report.changed_rows.values()) > 0
    assert report.changed_rows["transaction"] > 0

    assert mart_activity(warehouse) == source_activity(dsn)
    today = source_activity(dsn)
    assert report.booked_today == sum(count for (day, _), (count, _) in today.items() if day == _today())

    # XS is built up to last month: the alerts replay this month's bookings
    expected = source_alerts(dsn, current_month())
    alerts = mart_alerts(warehouse)
    assert {row[:5] for row in alerts} == expected
    red = [row for row in alerts if row[0] == "went_into_red" and row[2] == into_the_red]
    assert len(red) == 1
    assert red[0][1] == customer and red[0][4] == Decimal("-50.00")
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("select advisor_id::text from crm.customer where customer_id = %s", [customer])
        assert red[0][7] == cur.fetchone()[0]
    assert report.new_alerts == len(alerts)

    # the alert path: each new event once in audit.alerts
    notices = _rows(warehouse, "select message from audit.alerts where kind = 'advisor_alert'")
    assert any(customer in message and "went into the red" in message for (message,) in notices)

    # nothing changed at the source: a second cycle adds nothing and rewrites no alert
    again = run_live_cycle(settings, echo=_quiet, instance=instance)
    assert again.new_alerts == 0 and sum(again.changed_rows.values()) == 0
    assert mart_alerts(warehouse) == alerts
    assert mart_activity(warehouse) == source_activity(dsn)
    assert _rows(warehouse, "select count(*) from audit.alerts where kind = 'advisor_alert'") == [(len(notices),)]

    # incremental staging holds what a rebuild from all of raw holds
    staged = "select * exclude (updated_at) from staging.base_transaction order by transaction_id"
    incremental = _rows(warehouse, staged)
    rebuilt = warehouse.parent / "rebuilt.duckdb"
    shutil.copy(warehouse, rebuilt)
    run_dbt(rebuilt, "run", "--select", "base_transaction", "--full-refresh")
    assert _rows(rebuilt, staged) == incremental

    # a correction to a closed month, ingested by a cycle: the cycle leaves the month alone and
    # keeps the late-data marks, so the next run rebuilds that month and those after it, no other
    from conftest import XS_FIRST_MONTH, XS_MONTHS
    from helpers.environment import instance_with_every_month_built

    from finefinance_platform.runs.pipeline import run_pipeline

    corrected = add_months(current_month(), -2)
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "update banking.transaction set amount = amount + 10, updated_at = now() where transaction_id = ("
            "select transaction_id from banking.transaction where status = 'completed' and date_trunc('month', "
            "booked_at at time zone 'UTC') = %s order by transaction_id limit 1)",
            [corrected],
        )
        conn.commit()
    assert run_live_cycle(settings, echo=_quiet, instance=instance).closed_months_touched == corrected.isoformat()
    months = [add_months(XS_FIRST_MONTH, n).isoformat() for n in range(XS_MONTHS)]
    built = run_pipeline(settings, echo=_quiet, instance=instance_with_every_month_built(months))
    assert built.months == [m for m in months if m >= corrected.isoformat()]


def test_a_transaction_arriving_before_its_account_flows_once_the_account_arrives(xs_clone):
    warehouse = xs_clone["warehouse"]
    with closing(duckdb.connect(str(warehouse))) as con:
        account, customer = con.execute(
            "select account_id, customer_id from raw.account where currency = 'EUR' limit 1"
        ).fetchone()
        # the account row is held back (another stream not synced yet): a new account id for now
        con.execute("create table held_account as select * from raw.account where account_id = ?", [account])
        con.execute("update held_account set account_id = 'acc-late-0001', updated_at = now()")
        con.execute(
            "insert into raw.transaction by name select 'txn-late-0001' as transaction_id, "
            "'acc-late-0001' as sender_account_id, null as receiver_account_id, 'Shop' as counterparty, "
            "now() - interval 1 hour as transaction_date, now() - interval 1 hour as booked_at, "
            "12.34 as amount, 'EUR' as currency, 'late' as description, 'card_payment' as category, "
            "'completed' as status, now() as created_at, now() as updated_at"
        )
    base = "select quarantine_reason, sender_customer_id from staging.base_transaction where transaction_id = ?"
    run_dbt(warehouse, "run", "--select", "base_transaction")
    assert _rows(warehouse, base.replace("?", "'txn-late-0001'")) == [("unknown_account", None)]

    with closing(duckdb.connect(str(warehouse))) as con:
        con.execute("insert into raw.account by name select * from held_account")
    run_dbt(warehouse, "run", "--select", "base_transaction intraday_activity")
    assert _rows(warehouse, base.replace("?", "'txn-late-0001'")) == [(None, customer)]
    assert _rows(warehouse, "select count(*) from staging.stg_transaction where transaction_id = 'txn-late-0001'") == [
        (1,)
    ]


def test_a_live_cycle_and_a_month_build_started_together_both_finish(xs_clone, tmp_path):
    """Two processes, as an operator would start them: each waits for the other's writes."""
    month = add_months(current_month(), -1).strftime("%Y-%m")
    env = child_environment({"FINEFINANCE_HOME": str(tmp_path / "home")})
    finefinance = str(Path(sys.executable).parent / "finefinance")
    commands = {
        "live": [finefinance, "live", "--once"],
        "month": [finefinance, "run", "--from", month, "--to", month],
    }
    results: dict[str, subprocess.CompletedProcess] = {}

    def start(name: str) -> None:
        results[name] = subprocess.run(commands[name], capture_output=True, text=True, env=env, timeout=900)

    threads = [threading.Thread(target=start, args=(name,)) for name in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, result in results.items():
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{name}: {output[-3000:]}"
        assert "Could not set lock" not in output and "stayed locked" not in output, output[-3000:]
    assert "live cycle in" in results["live"].stdout
    assert f"1 month(s) {month}" in results["month"].stdout


def test_dbt_source_freshness_reaches_dagster_as_a_check_on_each_raw_table(xs_platform):
    from dagster import AssetCheckKey, AssetKey
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    from finefinance_platform.source.tables import SOURCE_TABLES

    keys = [AssetCheckKey(AssetKey(["raw", table.name]), "dbt_source_freshness") for table in SOURCE_TABLES]
    latest = xs_platform["instance"].event_log_storage.get_latest_asset_check_execution_by_key(keys)
    assert set(latest) == set(keys)
    for key, record in latest.items():
        # just loaded by the XS build: within dbt's 26 hours
        assert record.status == AssetCheckExecutionRecordStatus.SUCCEEDED, key
        evaluation = record.event.dagster_event.event_specific_data
        assert evaluation.metadata["dbt_status"].value == "pass"
        assert evaluation.metadata["hours_since_load"].value < 1


def test_dbt_freshness_verdicts_map_to_check_severities():
    from dagster import AssetCheckSeverity

    from finefinance_platform.checks.source_freshness import check_result, freshness_results

    sources = {
        "results": [
            {"unique_id": "source.finefinance.raw.loan", "status": "warn", "max_loaded_at_time_ago_in_s": 27 * 3600},
            {
                "unique_id": "source.finefinance.raw.account",
                "status": "error",
                "max_loaded_at_time_ago_in_s": 31 * 3600,
            },
            {"unique_id": "source.finefinance.raw.advisor", "status": "pass", "max_loaded_at_time_ago_in_s": 60},
        ]
    }
    results = freshness_results(sources)
    late, stale, fresh = (check_result(t, results[t]) for t in ("loan", "account", "advisor"))
    assert (late.passed, late.severity, late.metadata["hours_since_load"].value) == (False, AssetCheckSeverity.WARN, 27)
    assert (stale.passed, stale.severity) == (False, AssetCheckSeverity.ERROR)
    assert fresh.passed
    missing = check_result("balance", results.get("balance"))
    assert not missing.passed and "nothing" in missing.description


def test_a_month_window_in_the_environment_writes_that_month_only(xs_clone, monkeypatch):
    """Dagster passes the partition window in FINEFINANCE_MONTH_START/END (not --vars, which make
    dbt parse the whole project again): dbt must write exactly that window."""
    from finefinance_platform.transformation.dbt_assets import window_in_environment

    warehouse = xs_clone["warehouse"]
    last, before = add_months(current_month(), -1), add_months(current_month(), -2)
    counts = "select month_start, count(*) from marts.fct_transaction group by 1 order by 1"
    built = dict(_rows(warehouse, counts))
    with closing(duckdb.connect(str(warehouse))) as con:
        con.execute("delete from marts.fct_transaction where month_start in (?, ?)", [before, last])
    window = {"month_start": last.isoformat(), "month_end": current_month().isoformat()}
    with window_in_environment(window):
        run_dbt(warehouse, "run", "--select", "fct_transaction")
    rebuilt = dict(_rows(warehouse, counts))
    assert rebuilt[last] == built[last]  # the window's month is back
    assert before not in rebuilt  # the month outside the window was not touched
    assert "FINEFINANCE_MONTH_START" not in os.environ  # restored after
