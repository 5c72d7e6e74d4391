"""The risk score (docs/business-definitions.md#risk-score): each rule on its own, the rounding and
the bands, on the independent computation (tests/helpers/independent_value_actions.py) that the
XS comparison holds marts.customer_risk_score to; the page's rule text states the dbt vars; and
the scores of the small bank as the dashboard reads them from the mart."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
from helpers import independent_value_actions as independent
from helpers.delivery_fixtures import make_delivery_home, uid
from helpers.independent_value_actions import RiskInputs, band

from finefinance_platform.access.policy import CustomerScope
from finefinance_platform.dashboards import queries, risk

D = Decimal


class Score:
    """The independent score as attributes, as the tests below read it."""

    def __init__(self, row: dict):
        self.__dict__.update(row)
        self.total = row["score"]


def score_customer(inputs: RiskInputs) -> Score:
    return Score(independent.score(inputs))


def inputs(**changes) -> RiskInputs:
    healthy = {
        "months_observed": 6,
        "months_in_red": 0,
        "lowest_balance": D("1500.00"),
        "inflows": D("12000.00"),  # 2,000 a month
        "outflows": D("9000.00"),  # 75 % of it
        "loans_outstanding": D("0.00"),
    }
    return RiskInputs(**{**healthy, **changes})


def test_a_healthy_customer_scores_zero():
    score = score_customer(inputs())
    assert (score.total, score.band) == (0, "Low")


@pytest.mark.parametrize(("months_in_red", "points"), [(0, 0), (3, 17.5), (6, 35)])
def test_months_in_the_red(months_in_red, points):
    assert score_customer(inputs(months_in_red=months_in_red)).red_points == pytest.approx(points)


def test_months_in_the_red_are_a_share_of_the_months_observed():
    # a customer who joined two months ago, in the red both months: the full 35
    assert score_customer(inputs(months_observed=2, months_in_red=2)).red_points == pytest.approx(35)


@pytest.mark.parametrize(
    ("lowest", "points"), [("250.00", 0), ("0.00", 0), ("-500.00", 6.25), ("-2000.00", 25), ("-9000", 25)]
)
def test_depth_of_overdraft(lowest, points):
    assert score_customer(inputs(lowest_balance=D(lowest))).overdraft_points == pytest.approx(points)


@pytest.mark.parametrize(
    ("outflows", "points"),
    [("10800.00", 0), ("12000.00", 5), ("13200.00", 10), ("15600.00", 20), ("30000.00", 20)],
)
def test_outflows_against_inflows(outflows, points):
    # inflows 12,000: ratios 0.9, 1.0, 1.1, 1.3, 2.5
    assert score_customer(inputs(outflows=D(outflows))).spending_points == pytest.approx(points)


def test_outflows_with_no_inflow_score_the_full_points():
    assert score_customer(inputs(inflows=D(0), outflows=D("10"))).spending_points == 20
    assert score_customer(inputs(inflows=D(0), outflows=D(0))).spending_points == 0


@pytest.mark.parametrize(("loans", "points"), [("24000", 0), ("72000", 10), ("120000", 20), ("500000", 20)])
def test_debt_against_income(loans, points):
    # a year of income = 12 x 2,000 = 24,000: 1, 3, 5 and 20 years of it
    assert score_customer(inputs(loans_outstanding=D(loans))).debt_points == pytest.approx(points)


def test_a_loan_with_no_income_scores_the_full_points():
    assert score_customer(inputs(inflows=D(0), outflows=D(0), loans_outstanding=D("1000"))).debt_points == 20


def test_everything_at_once_is_100_and_critical():
    score = score_customer(
        inputs(months_in_red=6, lowest_balance=D("-5000"), outflows=D("20000"), loans_outstanding=D("200000"))
    )
    assert (score.total, score.band) == (100, "Critical")


def test_parts_round_half_up_to_two_decimals_and_the_score_to_a_whole_number():
    # one month of two in the red: 17.50; an overdraft of 80.00: 25 x 80 / 2,000 = 1.00; 18.50 scores
    # 19 (half up; Python's round() and the old dashboard gave 18, the even neighbour)
    tie = score_customer(inputs(months_observed=2, months_in_red=1, lowest_balance=D("-80.00")))
    assert (tie.red_points, tie.overdraft_points, tie.total) == (D("17.50"), D("1.00"), 19)
    # outflows 90.01 % of inflows: 20 x 0.0001 / 0.4 = 0.005, half up 0.01 (not 0.00)
    assert score_customer(inputs(outflows=D("10801.20"))).spending_points == D("0.01")
    # a third of a month in the red: 35 / 6 = 5.8333... shows 5.83
    assert score_customer(inputs(months_in_red=1)).red_points == D("5.83")


def test_the_score_is_the_sum_of_the_parts_as_shown():
    # 5.83 + 6.25 + 10.00 = 22.08: 22
    score = score_customer(inputs(months_in_red=1, lowest_balance=D("-500"), outflows=D("13200.00")))
    assert score.total == round(score.red_points + score.overdraft_points + score.spending_points) == 22


def test_the_rules_are_the_dbt_vars():
    """The independent computation's numbers, the page's text and the mart's vars are the same."""
    dbt = risk.risk_vars()
    assert (dbt["risk_window_months"], dbt["risk_red_max_points"], dbt["risk_overdraft_max_points"]) == (
        independent.WINDOW_MONTHS,
        independent.RED_MAX,
        independent.OVERDRAFT_MAX,
    )
    assert (dbt["risk_spending_max_points"], dbt["risk_debt_max_points"]) == (
        independent.SPENDING_MAX,
        independent.DEBT_MAX,
    )
    assert dbt["risk_overdraft_full_eur"] == independent.OVERDRAFT_FULL_EUR
    assert (dbt["risk_spending_safe_ratio"], dbt["risk_spending_full_ratio"]) == (
        independent.SPENDING_SAFE,
        independent.SPENDING_FULL,
    )
    assert (dbt["risk_debt_safe_years"], dbt["risk_debt_full_years"]) == (
        independent.DEBT_SAFE_YEARS,
        independent.DEBT_FULL_YEARS,
    )
    assert risk.BANDS == independent.BANDS and risk.WINDOW_MONTHS == 6


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0, "Low"),
        (24, "Low"),
        (25, "Moderate"),
        (49, "Moderate"),
        (50, "High"),
        (74, "High"),
        (75, "Critical"),
        (100, "Critical"),
    ],
)
def test_bands(score, label):
    assert band(score) == label


def test_the_rules_on_the_page_state_the_constants():
    text = " ".join(risk.RULES)
    fragments = ("up to 35 points", "2,000 EUR", "90%", "130%", "1 year", "5 years", "Low 0-24", "Critical 75-100")
    for fragment in (*fragments, "rounded half up"):
        assert fragment in text


def test_scores_of_the_small_bank(tmp_path):
    home = make_delivery_home(tmp_path / "home", publish=False)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        table = queries.risk_table(con, home.months[-1], CustomerScope(everyone=True))
    assert len(table) == 5
    didier = table.iloc[0]
    assert didier["customer_id"] == uid("didier")  # the riskiest comes first
    # 4 months observed, all in the red: 35; lowest balance -1,600 (4 x -400): 25 x 1600/2000 = 20;
    # 7,600 out against 6,000 in, ratio 1.2667: 20 x (1.2667 - 0.9) / 0.4 = 18.33; no loan: 0
    assert didier["months_in_red"] == 4
    assert didier["lowest_balance"] == pytest.approx(-1600)
    assert (didier["inflows"], didier["outflows"]) == (pytest.approx(6000), pytest.approx(7600))
    assert (didier["red_points"], didier["overdraft_points"], didier["spending_points"]) == (35, 20, 18.33)
    assert didier["score"] == 73  # 35 + 20 + 18.33 = 73.33
    assert didier["band"] == "High"
    # Alice's 500.00 a month to her own Livret A is neither an outflow nor an inflow
    alice = table[table["customer_id"] == uid("alice")].iloc[0]
    assert (alice["inflows"], alice["outflows"]) == (pytest.approx(4 * 3000), pytest.approx(4 * (45.99 + 120.50)))
    assert alice["score"] == 0
    # Chloé: 60,000 loan against 9,000 a month (108,000 a year): under a year of income
    chloe = table[table["customer_id"] == uid("chloe")].iloc[0]
    assert chloe["loans_outstanding"] == pytest.approx(60000) and chloe["debt_points"] == 0
