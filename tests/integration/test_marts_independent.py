"""Issue 3 at scale XS: the real pipeline (simulator → dlt → dbt → Dagster) against the independent
computation of every mart from the source (`independent_marts.compute_marts`, the one the delivery
fixtures use too), following docs/business-definitions.md to the letter."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from helpers.environment import platform_env
from helpers.independent_marts import (
    HIGH_INVESTMENTS,
    HIGH_LOANS,
    HIGH_WITHDRAWALS,
    STREAK_MONTHS,
    bank_from_source,
    compute_marts,
)

from finefinance_platform.months import add_months

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=2)

MONTHS = [add_months(XS_FIRST_MONTH, i) for i in range(XS_MONTHS)]
# 1/100 of a cent: dbt rounds interest to 4 decimals after a division DuckDB does in floating point
FOUR_DECIMALS = Decimal("0.0001")
CATEGORIES = Path(__file__).resolve().parents[2] / "seeds" / "transaction_categories.csv"


@pytest.fixture(scope="module")
def built(xs_platform):
    # every row of the source (customers and accounts from years before the first partition, bookings
    # of the open month, pending and failed transactions): compute_marts keeps what each mart counts
    bank = bank_from_source(xs_platform["dsn"], MONTHS)
    return {**xs_platform, "expected": compute_marts(bank)}


def _mart(built, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(built["warehouse"]), read_only=True) as con:
        return con.execute(sql).df()


def _rows(built, sql: str) -> list[dict]:
    """The mart's rows with DuckDB's own values: money as Decimal (compared to the cent and below), dates as dates."""
    with duckdb.connect(str(built["warehouse"]), read_only=True) as con:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _keyed(rows: list[dict], key: tuple[str, ...], values: tuple[str, ...]) -> dict:
    keyed = {tuple(r[k] for k in key): tuple(r[v] for v in values) for r in rows}
    assert len(keyed) == len(rows), f"{key} is not a key"
    return keyed


def test_every_month_is_built_and_no_check_failed(built):
    assert built["report"].months == [m.isoformat() for m in MONTHS]
    assert built["report"].failed_checks == []


STATEMENT = ("customer_id", "opening_balance", "total_credits", "total_debits", "closing_balance", "transaction_count")


def test_statements_match(built):
    expected = built["expected"]["fct_monthly_statement"]
    actual = _rows(built, f"select account_id, month_start, {', '.join(STATEMENT)} from marts.fct_monthly_statement")
    assert len(actual) == len(expected)
    key = ("account_id", "month_start")
    assert _keyed(actual, key, STATEMENT) == _keyed(expected, key, STATEMENT)


CUSTOMER_MONTH = ("month_end_balance", "withdrawals", "loans_outstanding", "investments_held")


def test_customer_months_match(built):
    expected = built["expected"]["fct_customer_month"]
    actual = _rows(built, f"select customer_id, month_start, {', '.join(CUSTOMER_MONTH)} from marts.fct_customer_month")
    key = ("customer_id", "month_start")
    assert _keyed(actual, key, CUSTOMER_MONTH) == _keyed(expected, key, CUSTOMER_MONTH)


def test_advisor_lists_match(built):
    columns = ("month_start", "customer_id", "advisor_id", "months_in_red", "month_end_balance")
    budget = built["expected"]["advisor_budget_support"]
    actual = _rows(built, f"select {', '.join(columns)} from marts.advisor_budget_support")
    assert _keyed(actual, columns[:2], columns[2:]) == _keyed(budget, columns[:2], columns[2:])
    assert len(budget) > 0, "the overspending cohort must produce budget-support rows at XS"

    columns = (
        "month_start",
        "customer_id",
        "advisor_id",
        "high_withdrawals_months",
        "high_loans_months",
        "high_investments_months",
    )
    upgrade = built["expected"]["advisor_upgrade_candidates"]
    actual = _rows(built, f"select {', '.join(columns)} from marts.advisor_upgrade_candidates")
    assert _keyed(actual, columns[:2], columns[2:]) == _keyed(upgrade, columns[:2], columns[2:])
    assert len(upgrade) > 0, "the affluent cohort must produce upgrade candidates at XS"
    # a streak that began before the first partition counts its earlier months too
    assert any(r["high_loans_months"] > len(MONTHS) for r in upgrade)
    assert (HIGH_WITHDRAWALS, HIGH_LOANS, HIGH_INVESTMENTS, STREAK_MONTHS) == (5000, 50000, 25000, 3)


GROWTH = ("new_customers_growth_pct", "transaction_count_growth_pct", "revenue_growth_pct")


def test_kpis_match(built):
    expected = {r["month_start"]: r for r in built["expected"]["kpi_monthly_growth"]}
    actual = _rows(built, "select * from marts.kpi_monthly_growth order by month_start")
    assert [r["month_start"] for r in actual] == MONTHS == list(expected)
    for row in actual:
        month = row["month_start"]
        exp = expected[month]
        # interest is Σ amount × rate / 12, rounded to 4 decimals
        assert abs(row["interest_income"] - exp["interest_income"]) <= FOUR_DECIMALS, month
        assert row["card_fee_income"] == exp["card_fee_income"], month
        assert abs(row["revenue"] - exp["revenue"]) <= FOUR_DECIMALS, month
        assert row["transaction_count"] == exp["transaction_count"], month
        assert row["transaction_amount"] == exp["transaction_amount"], month
        assert row["new_customers"] == exp["new_customers"], month
        # month over month, against the data's previous month (which may precede the partitions)
        for column in GROWTH:
            want, got = exp[column], row[column]
            if want is None:
                assert got is None, (month, column, got)
            else:
                assert float(got) == pytest.approx(want, abs=1e-4), (month, column)
    # the first partition's revenue grows from the month before it, which no partition holds
    assert expected[MONTHS[0]]["revenue_growth_pct"] is not None


def test_transactions_per_month_match(built):
    # the mart lists every known category every month, with zeros when it had none
    # (docs/business-definitions.md#transactions-per-month); compute_marts lists those with transactions
    with CATEGORIES.open(newline="") as seed:
        known = {row["category"] for row in csv.DictReader(seed)}
    expected = {
        (r["month_start"], r["category"]): (r["transaction_count"], r["transaction_amount"])
        for r in built["expected"]["kpi_transactions_per_month"]
    }
    assert expected, "no transactions at XS"
    expected |= {(m, c): (0, 0) for m in MONTHS for c in known if (m, c) not in expected}
    actual = _rows(
        built,
        "select month_start, category, transaction_count, transaction_amount from marts.kpi_transactions_per_month",
    )
    key = ("month_start", "category")
    assert _keyed(actual, key, ("transaction_count", "transaction_amount")) == expected


def test_customers_per_profile_match(built):
    # every profile every month, zeros included, on both sides
    columns = ("month_start", "profile", "customer_count")
    expected = built["expected"]["kpi_customers_per_profile"]
    actual = _rows(built, f"select {', '.join(columns)} from marts.kpi_customers_per_profile")
    assert _keyed(actual, columns[:2], columns[2:]) == _keyed(expected, columns[:2], columns[2:])


def test_second_run_changes_nothing(built):
    from finefinance_platform.orchestration.pipeline import run_pipeline
    from finefinance_platform.settings import get_settings

    before = _mart(built, "select * from marts.fct_monthly_statement order by account_id, month_start")
    monkeypatch = pytest.MonkeyPatch()
    said = []
    with platform_env(monkeypatch, built["dsn"], built["warehouse"]):
        report = run_pipeline(get_settings(), echo=said.append, instance=built["instance"])
        # an explicit re-run of one month rewrites it to the same rows
        rerun = run_pipeline(
            get_settings(),
            start=MONTHS[2].isoformat()[:7],
            end=MONTHS[2].isoformat()[:7],
            echo=lambda *_: None,
            instance=built["instance"],
        )
    monkeypatch.undo()
    assert report.months == []  # nothing new in the source: no month rebuilt
    # nor staging, the snapshot and the dimensions: raw is what they were built from
    assert any("nothing new since the last refresh" in line for line in said), said
    assert "refresh" not in report.seconds
    assert rerun.months == [MONTHS[2].isoformat()]
    after = _mart(built, "select * from marts.fct_monthly_statement order by account_id, month_start")
    pd.testing.assert_frame_equal(before, after)


def test_the_backfill_of_every_month_was_one_run(built):
    from dagster import AssetKey

    instance = built["instance"]
    key = AssetKey(["marts", "fct_monthly_statement"])
    assert instance.get_materialized_partitions(key) >= {m.isoformat() for m in MONTHS}
    close_runs = [r for r in instance.get_runs() if r.job_name == "close_month"]
    first = min(close_runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
    assert first.tags["dagster/asset_partition_range_start"] == MONTHS[0].isoformat()
    assert first.tags["dagster/asset_partition_range_end"] == MONTHS[-1].isoformat()
    events = instance.fetch_materializations(key, limit=100).records
    assert {e.partition_key for e in events if e.run_id == first.run_id} == {m.isoformat() for m in MONTHS}


def test_every_month_is_issued_and_the_newest_months_files_are_rendered(built):
    """The run issues every month's statements (downloadable on demand) and renders the bulk files
    of the newest month only: the rendering of every history month is off the path of `make run`."""
    from dagster import AssetKey

    from finefinance_platform.delivery.export import statements_folder

    instance, newest = built["instance"], MONTHS[-1].isoformat()
    assert built["report"].documents == [newest]  # the first run's, which built every month
    issued = instance.get_materialized_partitions(AssetKey(["delivery", "statement_issues"]))
    assert issued >= {m.isoformat() for m in MONTHS}
    # (a test that re-runs a month renders that month's files too: only the first month is sure to have none)
    rendered = instance.get_materialized_partitions(AssetKey(["delivery", "statement_documents"]))
    assert newest in rendered and MONTHS[0].isoformat() not in rendered
    pdfs, csvs = (list(statements_folder(MONTHS[-1]).glob(f"*.{fmt}")) for fmt in ("pdf", "csv"))
    assert len(pdfs) == len(csvs) > 100
    assert not statements_folder(MONTHS[0]).exists()
