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
    VALUE_PARTS,
    bank_from_source,
    compute_marts,
    compute_value_marts,
    versions_from_snapshot,
)
from helpers.independent_value_actions import compute_value_action_marts

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
    # customers as at each month's end (advisor, profile): the snapshot is their only record
    bank.customer_versions = versions_from_snapshot(xs_platform["warehouse"])
    expected = compute_marts(bank)
    expected |= compute_value_marts(bank, expected)
    return {**xs_platform, "expected": expected}


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


VALUE = (
    "advisor_id",
    "profile",
    *VALUE_PARTS,
    "contribution",
    "contribution_12m",
    "months_in_12m",
    "value_tier",
    "value_tier_rank",
    "main_driver",
    "deposits",
    "overdrawn",
    "loans_outstanding",
    "investments_held",
    "card_fees",
    "card_payments",
    "open_accounts",
    "transaction_sides",
    "cash_withdrawals",
)


def test_customer_value_matches(built):
    """Every part, the contribution, its twelve months, the tier and the main driver, to the cent
    (docs/business-definitions.md#customer-value)."""
    expected = built["expected"]["fct_customer_value"]
    actual = _rows(built, f"select customer_id, month_start, definition_version, {', '.join(VALUE)} "
                   "from marts.fct_customer_value")  # fmt: skip
    key = ("customer_id", "month_start")
    assert len(actual) == len(expected)
    assert _keyed(actual, key, VALUE) == _keyed(expected, key, VALUE)
    # one definition made every row
    assert len({r["definition_version"] for r in actual}) == 1
    # the XS bank has every part, and customers in more than two tiers
    assert all(any(r[part] != 0 for r in expected) for part in VALUE_PARTS)
    assert len({r["value_tier"] for r in expected}) >= 3


def test_value_tier_migrations_match(built):
    columns = ("month_start", "from_tier", "to_tier", "customer_count")
    expected = built["expected"]["value_tier_migrations"]
    actual = _rows(built, f"select {', '.join(columns)} from marts.value_tier_migrations")
    assert _keyed(actual, columns[:3], columns[3:]) == _keyed(expected, columns[:3], columns[3:])
    # the first month held: every customer arrives (no month before it in the warehouse)
    assert {r["from_tier"] for r in expected if r["month_start"] == MONTHS[0]} == {None}


@pytest.fixture(scope="module")
def risk_and_actions(built):
    """marts.customer_risk_score and marts.advisor_value_actions computed independently
    (tests/helpers/independent_value_actions.py) from the independent marts above."""
    return compute_value_action_marts(built["expected"])


RISK = (
    "advisor_id",
    "score",
    "band",
    "red_points",
    "overdraft_points",
    "spending_points",
    "debt_points",
    "months_observed",
    "months_in_red",
    "lowest_balance",
    "inflows",
    "outflows",
    "loans_outstanding",
)


def test_risk_scores_match(built, risk_and_actions):
    """Every part, input, score and band, exactly (docs/business-definitions.md#risk-score)."""
    expected = risk_and_actions["customer_risk_score"]
    actual = _rows(built, f"select customer_id, month_start, {', '.join(RISK)} from marts.customer_risk_score")
    key = ("customer_id", "month_start")
    assert len(actual) == len(expected) == len(built["expected"]["fct_customer_month"])
    assert _keyed(actual, key, RISK) == _keyed(expected, key, RISK)
    # the XS bank scores in more than one band, and every part scores somewhere
    assert len({r["band"] for r in expected}) >= 2
    assert all(any(r[part] > 0 for r in expected) for part in RISK[3:7])


ACTIONS = (
    "advisor_id",
    "value_tier",
    "profile",
    "reason",
    "driver",
    "driver_change",
    "contribution_12m",
    "previous_value_tier",
    "previous_contribution_12m",
    "from_upgrade_list",
)


def test_advisor_value_actions_match(built, risk_and_actions):
    """Every action of every customer month, its rule in words included
    (docs/business-definitions.md#advisor-value-actions)."""
    expected = risk_and_actions["advisor_value_actions"]
    actual = _rows(
        built, f"select month_start, customer_id, action, {', '.join(ACTIONS)} from marts.advisor_value_actions"
    )
    key = ("month_start", "customer_id", "action")
    assert _keyed(actual, key, ACTIONS) == _keyed(expected, key, ACTIONS)
    assert expected, "no advisor action at XS"
    # one home for "offer an upgrade": every customer of the upgrade list has its offer_upgrade row
    offers = {(r["month_start"], r["customer_id"]) for r in actual if r["action"] == "offer_upgrade"}
    listed = {(r["month_start"], r["customer_id"]) for r in built["expected"]["advisor_upgrade_candidates"]}
    assert listed <= offers


def test_second_run_changes_nothing(built):
    from finefinance_platform.runs.pipeline import run_pipeline
    from finefinance_platform.settings import get_settings

    before = _mart(built, "select * from marts.fct_monthly_statement order by account_id, month_start")
    monkeypatch = pytest.MonkeyPatch()
    said = []
    with platform_env(monkeypatch, built["dsn"], built["warehouse"]):
        report = run_pipeline(get_settings(), echo=said.append, instance=built["instance"])
        # an explicit re-run of one month rewrites it to the same rows
        rerun = run_pipeline(
            get_settings(),
            start=MONTHS[2],
            end=MONTHS[2],
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

    from finefinance_platform.settings import get_settings
    from finefinance_platform.statements.export import statements_folder

    instance, newest = built["instance"], MONTHS[-1].isoformat()
    assert built["report"].documents == [newest]  # the first run's, which built every month
    issued = instance.get_materialized_partitions(AssetKey(["delivery", "statement_issues"]))
    assert issued >= {m.isoformat() for m in MONTHS}
    # (a test that re-runs a month renders that month's files too: only the first month is sure to have none)
    rendered = instance.get_materialized_partitions(AssetKey(["delivery", "statement_documents"]))
    assert newest in rendered and MONTHS[0].isoformat() not in rendered
    settings = get_settings()
    pdfs, csvs = (list(statements_folder(MONTHS[-1], settings).glob(f"*.{fmt}")) for fmt in ("pdf", "csv"))
    assert len(pdfs) == len(csvs) > 100
    assert not statements_folder(MONTHS[0], settings).exists()
