"""Issue 3 at scale XS: the real pipeline (simulator → dlt → dbt → Dagster) against an independent
pandas computation of every mart from the source, following docs/business-definitions.md to the letter."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from helpers.environment import platform_env
from helpers.independent_marts import HIGH_INVESTMENTS, HIGH_LOANS, HIGH_WITHDRAWALS, cents, compute

from finefinance_platform.months import add_months

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=2)

MONTHS = [add_months(XS_FIRST_MONTH, i) for i in range(XS_MONTHS)]


@pytest.fixture(scope="module")
def built(xs_platform):
    return {**xs_platform, "expected": compute(xs_platform["dsn"], MONTHS)}


def _mart(built, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(built["warehouse"]), read_only=True) as con:
        return con.execute(sql).df()


def test_every_month_is_built_and_no_check_failed(built):
    assert built["report"].months == [m.isoformat() for m in MONTHS]
    assert built["report"].failed_checks == []


def test_statements_match(built):
    expected = built["expected"]["statements"]
    actual = _mart(
        built,
        "select account_id, month_start, opening_balance, total_credits, total_debits, "
        "closing_balance from marts.fct_monthly_statement",
    )
    assert len(actual) == len(expected)
    exp = {(r.account_id, r.month_start): (r.opening, r.credits, r.debits, r.closing) for r in expected.itertuples()}
    act = {
        (r.account_id, r.month_start.date()): tuple(
            cents(v) for v in (r.opening_balance, r.total_credits, r.total_debits, r.closing_balance)
        )
        for r in actual.itertuples()
    }
    assert act == exp


def test_customer_months_match(built):
    expected = built["expected"]["customer_month"]
    actual = _mart(
        built,
        "select customer_id, month_start, month_end_balance, withdrawals, loans_outstanding, "
        "investments_held from marts.fct_customer_month",
    )
    exp = {
        (r.customer_id, r.month_start): (r.balance, r.withdrawals, r.loans, r.investments)
        for r in expected.itertuples()
    }
    act = {
        (r.customer_id, r.month_start.date()): tuple(
            cents(v) for v in (r.month_end_balance, r.withdrawals, r.loans_outstanding, r.investments_held)
        )
        for r in actual.itertuples()
    }
    assert act == exp


def test_advisor_lists_match(built):
    budget = built["expected"]["budget"]
    actual = _mart(
        built, "select month_start, customer_id, advisor_id, months_in_red from marts.advisor_budget_support"
    )
    assert {(r.month_start.date(), r.customer_id, r.advisor_id, r.months_in_red) for r in actual.itertuples()} == {
        (r.month_start, r.customer_id, r.advisor_id, r.red) for r in budget.itertuples()
    }
    assert len(budget) > 0, "the overspending cohort must produce budget-support rows at XS"

    upgrade = built["expected"]["upgrade"]
    actual = _mart(
        built,
        "select month_start, customer_id, advisor_id, high_withdrawals_months, high_loans_months, "
        "high_investments_months from marts.advisor_upgrade_candidates",
    )
    assert {
        (
            r.month_start.date(),
            r.customer_id,
            r.advisor_id,
            r.high_withdrawals_months,
            r.high_loans_months,
            r.high_investments_months,
        )
        for r in actual.itertuples()
    } == {(r.month_start, r.customer_id, r.advisor_id, r.high_w, r.high_l, r.high_i) for r in upgrade.itertuples()}
    assert len(upgrade) > 0, "the affluent cohort must produce upgrade candidates at XS"
    assert (HIGH_WITHDRAWALS, HIGH_LOANS, HIGH_INVESTMENTS) == (5000, 50000, 25000)


def growth(this, previous):
    return None if previous in (None, 0) else 100 * (this - previous) / previous


def test_kpis_match(built):
    expected = built["expected"]["kpis"].set_index("month_start")
    actual = _mart(built, "select * from marts.kpi_monthly_growth order by month_start")
    assert [d.date() for d in actual.month_start] == MONTHS
    for row in actual.itertuples():
        month = row.month_start.date()
        exp = expected.loc[month]
        # interest is amount × rate / 12: compared to the cent
        assert abs(cents(row.interest_income) - cents(exp.interest)) <= 1
        assert cents(row.card_fee_income) == cents(exp.fees)
        assert abs(cents(row.revenue) - cents(exp.interest + exp.fees)) <= 1
        assert row.transaction_count == exp["count"]
        assert cents(row.transaction_amount) == exp.cents
        assert row.new_customers == exp.new_customers
        # month over month, against the data's previous month (which may precede the partitions)
        previous = expected.loc[add_months(month, -1)] if add_months(month, -1) in expected.index else None
        for column, this, before in [
            ("new_customers_growth_pct", exp.new_customers, None if previous is None else previous.new_customers),
            ("transaction_count_growth_pct", exp["count"], None if previous is None else previous["count"]),
            (
                "revenue_growth_pct",
                float(exp.interest + exp.fees),
                None if previous is None else float(previous.interest + previous.fees),
            ),
        ]:
            want = growth(this, before)
            got = getattr(row, column)
            if want is None:
                assert pd.isna(got), (month, column, got)
            else:
                assert got == pytest.approx(want, abs=0.01), (month, column)


def test_transactions_per_month_match(built):
    expected = built["expected"]["per_category"]
    actual = _mart(
        built,
        "select month_start, category, transaction_count, transaction_amount from marts.kpi_transactions_per_month",
    )
    assert {
        (r.month_start.date(), r.category, r.transaction_count, cents(r.transaction_amount))
        for r in actual.itertuples()
    } == {(r.month, r.category, r.transaction_count, r.cents) for r in expected.itertuples()}


def test_customers_per_profile_match(built):
    expected = built["expected"]["profiles"]
    actual = _mart(
        built,
        "select month_start, profile, customer_count from marts.kpi_customers_per_profile where customer_count > 0",
    )
    assert {(r.month_start.date(), r.profile, r.customer_count) for r in actual.itertuples()} == {
        (r.month_start, r.profile, r.customer_count) for r in expected.itertuples()
    }


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
