"""Late and changed data: only a change whose business date falls in a closed month rebuilds it (a
booking that reached the warehouse late, a correction at the source, a corrected balance), from that
month to the last, and the statements, KPIs and advisor lists follow. A day of ordinary activity
(bookings today, pending transactions completing today, a card expiring, a profile upgrade) rebuilds
no closed month (docs/business-definitions.md#what-can-still-change-a-closed-month)."""

import datetime as dt
from contextlib import closing
from decimal import Decimal

import duckdb
import psycopg2
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from dagster import DagsterInstance, build_sensor_context
from helpers.environment import instance_with_every_month_built

from finefinance_platform.months import add_months
from finefinance_platform.orchestration.late_data import high_water_marks, read_record, remember_marks
from finefinance_platform.orchestration.sensors import late_data_sensor
from finefinance_platform.runs.pipeline import run_pipeline
from finefinance_platform.settings import get_settings
from finefinance_platform.warehouse import WarehouseResource

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=5)

MONTHS = [add_months(XS_FIRST_MONTH, i).isoformat() for i in range(XS_MONTHS)]


def _query(warehouse, sql, params=()):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _booking_arriving_late(dsn: str, month: str) -> tuple[str, str, Decimal]:
    """A card payment made and booked in `month` that reaches the source only now (a core banking
    system catching up); returns (id, account, amount)."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "select transaction_id::text, sender_account_id::text, amount from banking.transaction "
            "where sender_account_id is not null and receiver_account_id is null and status = 'completed' "
            "and transaction_date >= %s and transaction_date < %s::date + interval '1 month' "
            "order by transaction_id limit 1",
            (month, month),
        )
        transaction_id, account_id, amount = cur.fetchone()
        cur.execute(
            "insert into banking.transaction (transaction_id, sender_account_id, counterparty, transaction_date,"
            " booked_at, amount, currency, description, category, status, created_at, updated_at)"
            " values (gen_random_uuid(), %s, 'Late shop', %s::date + interval '20 days',"
            " %s::date + interval '20 days', 123.45, 'EUR', 'late card payment', 'card_payment', 'completed',"
            " now(), now()) returning transaction_id::text",
            (account_id, month, month),
        )
        late_id = cur.fetchone()[0]
        conn.commit()
    return late_id, account_id, Decimal("123.45")


def test_late_transaction_rebuilds_its_month_and_the_later_ones(xs_clone):
    warehouse = xs_clone["warehouse"]
    late_month = MONTHS[2]
    statement_sql = (
        "select month_start, opening_balance, total_debits, closing_balance from marts.fct_monthly_statement "
        "where account_id = ? order by month_start"
    )
    count_sql = "select transaction_count, transaction_amount from marts.kpi_monthly_growth where month_start = ?"
    late_id, account_id, amount = _booking_arriving_late(xs_clone["dsn"], late_month)
    before = _query(warehouse, statement_sql, [account_id])
    kpi_before = _query(warehouse, count_sql, [late_month])[0]

    report = run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))

    # the earliest touched month to the last, not the months before it
    assert report.months == MONTHS[2:]
    after = _query(warehouse, statement_sql, [account_id])
    by_month = {row[0].isoformat(): row for row in after}
    for row_before in before:
        month = row_before[0].isoformat()
        row_after = by_month[month]
        if month < late_month:
            assert row_after == row_before
        elif month == late_month:
            assert row_after[2] == row_before[2] + amount  # one more debit
            assert row_after[3] == row_before[3] - amount
        else:
            assert row_after[1] == row_before[1] - amount  # the opening balance carries the change
            assert row_after[3] == row_before[3] - amount
    kpi_after = _query(warehouse, count_sql, [late_month])[0]
    assert kpi_after == (kpi_before[0] + 1, kpi_before[1] + amount)
    lines = _query(
        warehouse, "select direction, amount from marts.fct_statement_line where transaction_id = ?", [late_id]
    )
    assert lines == [("debit", amount)]


def test_profile_upgrade_is_history_not_a_rewrite(xs_clone):
    """An upgrade today changes the customer's current profile; the months already closed keep the
    profile the customer held at their end (the snapshot's history), so none is rebuilt for it."""
    warehouse = xs_clone["warehouse"]
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute(
            "select customer_id::text from crm.customer where profile_level = 'bronze' "
            "and signup_date < %s order by customer_id limit 1",
            (MONTHS[0],),
        )
        customer_id = cur.fetchone()[0]
        cur.execute(
            "update crm.customer set profile_level = 'diamant', updated_at = now() where customer_id = %s",
            (customer_id,),
        )
        conn.commit()
    counts = "select month_start, profile, customer_count from marts.kpi_customers_per_profile order by 1, 2"
    before = _query(warehouse, counts)
    report = run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    assert report.months == []
    assert _query(warehouse, counts) == before
    assert _query(warehouse, "select profile from marts.dim_customer where customer_id = ?", [customer_id]) == [
        ("Diamond",)
    ]
    history = _query(
        warehouse,
        "select profile_level from snapshots.snp_customer where customer_id = ? order by dbt_valid_from",
        [customer_id],
    )
    assert [row[0] for row in history] == ["bronze", "diamant"]


def test_balance_correction_is_reported_by_the_balance_check(xs_clone):
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        month_end = (dt.date.fromisoformat(MONTHS[3]) + dt.timedelta(days=40)).replace(day=1) - dt.timedelta(days=1)
        cur.execute(
            "update banking.balance set balance = balance + 10, updated_at = now() "
            "where balance_date = %s and account_id = (select account_id from banking.balance "
            "where balance_date = %s order by account_id limit 1)",
            (month_end, month_end),
        )
        assert cur.rowcount == 1
        conn.commit()
    report = run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    assert report.months == MONTHS[3:]
    assert any("balance_table_agrees" in failed for failed in report.failed_checks)


def _correct_a_booking(dsn: str, month: str) -> None:
    """A correction at the source: an amount booked in that closed month was wrong."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "update banking.transaction set amount = amount + 1, updated_at = now() where transaction_id = ("
            " select transaction_id from banking.transaction where status = 'completed'"
            " and booked_at >= %s and booked_at < %s::date + interval '1 month' order by transaction_id limit 1)",
            (month, month),
        )
        assert cur.rowcount == 1
        conn.commit()


def _sensor_tick(instance: DagsterInstance):
    """The late-data sensor evaluated as the daemon does, on this test's warehouse and instance."""
    resources = {"warehouse": WarehouseResource(settings=get_settings())}
    with build_sensor_context(instance=instance, resources=resources) as context:
        return late_data_sensor(context)


def test_sensor_requests_the_touched_range_only(xs_clone):
    settings = get_settings()
    instance = instance_with_every_month_built(MONTHS)
    with duckdb.connect(str(xs_clone["warehouse"]), read_only=True) as con:
        marks = remember_marks(settings, high_water_marks(con))
    _correct_a_booking(xs_clone["dsn"], MONTHS[4])
    # ingest only (the sensor acts on what ingestion brought, once staged)
    from dagster import materialize

    from finefinance_platform.ingestion import ingestion_resources
    from finefinance_platform.ingestion.dlt_ingestion import raw_tables

    assert materialize([raw_tables()], resources=ingestion_resources(settings)).success
    # the months read the staged transactions: until the daily refresh stages the new version, a
    # month built now would miss it, so the sensor waits and the marks stay
    skipped = _sensor_tick(instance)
    assert not hasattr(skipped, "tags") and "not staged" in skipped.skip_message
    assert read_record(settings).marks == marks
    from finefinance_platform.definitions import code_location

    defs = code_location(settings)
    assert defs.resolve_job_def("daily_refresh").execute_in_process(instance=DagsterInstance.ephemeral()).success
    request = _sensor_tick(instance)
    assert request.tags["dagster/asset_partition_range_start"] == MONTHS[4]
    assert request.tags["dagster/asset_partition_range_end"] == MONTHS[-1]
    # the marks move once its run has succeeded: until the daemon has launched it, the next tick
    # asks for the same run (its run key), and the months stay stale for `finefinance run` too
    again = _sensor_tick(instance)
    assert again.run_key == request.run_key and again.tags == request.tags
    assert read_record(settings).marks == marks


def test_what_the_sensor_or_the_command_line_built_the_other_sees_as_built(xs_clone):
    """`finefinance run` and the late-data sensor keep one record of late-data marks: months one of
    them rebuilt for a change are not stale for the other, in either order, and a rebuild the
    sensor requested whose run failed leaves them stale for both."""
    from finefinance_platform.definitions import code_location

    settings = get_settings()
    defs = code_location(settings)
    instance = instance_with_every_month_built(MONTHS)  # the one the daemon and the command line share
    close_month = defs.resolve_job_def("close_month")
    said: list[str] = []
    assert "marks recorded" in _sensor_tick(instance).skip_message

    # the sensor first: its run rebuilds the months, then `finefinance run` finds nothing to build
    _correct_a_booking(xs_clone["dsn"], MONTHS[4])
    assert defs.resolve_job_def("daily_refresh").execute_in_process(instance=instance).success
    request = _sensor_tick(instance)
    assert request.tags["dagster/asset_partition_range_start"] == MONTHS[4]
    assert close_month.execute_in_process(instance=instance, tags=request.tags).success  # as the daemon runs it
    assert run_pipeline(settings, echo=said.append, instance=instance).months == []
    assert not [line for line in said if "late-data sensor" in line]
    assert "no change touches a closed month" in _sensor_tick(instance).skip_message

    # the sensor's run fails: the months stay stale, and `finefinance run` builds them; the sensor
    # (no cursor: it reads the same record) then has nothing to request, as when the command line
    # is first. The case touches one of the last months, so that it rebuilds two months, not all.
    _correct_a_booking(xs_clone["dsn"], MONTHS[4])
    assert defs.resolve_job_def("daily_refresh").execute_in_process(instance=instance).success
    request = _sensor_tick(instance)
    assert request.tags["dagster/asset_partition_range_start"] == MONTHS[4]
    failed = instance.create_run_for_job(job_def=close_month, tags=request.tags)
    instance.report_run_failed(failed)
    assert run_pipeline(settings, echo=said.append, instance=instance).months == MONTHS[4:]
    assert "no change touches a closed month" in _sensor_tick(instance).skip_message


def test_a_day_of_live_activity_rebuilds_no_closed_month(xs_clone):
    """A day of trickle: new bookings, pending transactions of closed months completing (booked
    today), sign-ups, upgrades, products opening and cards expiring today. Nothing of it has a
    business date in a closed month, so the next run rebuilds none and every statement stays."""
    from finefinance_platform.source.simulator import trickle

    warehouse = xs_clone["warehouse"]
    statements = "select * from marts.fct_monthly_statement order by account_id, month_start"
    lines = "select * from marts.fct_statement_line order by account_id, month_start, line_number"
    before = _query(warehouse, statements), _query(warehouse, lines)
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from banking.transaction where status = 'pending' and transaction_date < %s",
                    (add_months(dt.date.fromisoformat(MONTHS[-1]), 1),))  # fmt: skip
        pending_in_closed_months = cur.fetchone()[0]
    assert pending_in_closed_months > 0

    summary = trickle(xs_clone["dsn"], seed=3, interval_seconds=0, max_batches=120)
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from banking.transaction where status = 'completed' and transaction_date < %s"
            " and booked_at >= current_date",
            (add_months(dt.date.fromisoformat(MONTHS[-1]), 1),),
        )
        completed_today = cur.fetchone()[0]
    assert completed_today > 0  # made in a closed month, booked today
    assert summary.updated.get("product.credit_card", 0) + summary.inserted.get("crm.customer", 0) > 0

    report = run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    assert report.months == []
    assert (_query(warehouse, statements), _query(warehouse, lines)) == before
