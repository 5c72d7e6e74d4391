"""The advisor's value actions (docs/business-definitions.md#advisor-value-actions) on a hand-built
case, one customer per rule, the expected rows written by hand: the independent computation that the
XS comparison holds marts.advisor_value_actions to (the dbt model has the same case as its unit test,
`one_case_per_action_rule` in advisor_value_actions.yml)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from helpers.independent_value_actions import value_actions

D = Decimal
MAY, JUNE, JUNE_BEFORE = dt.date(2025, 5, 1), dt.date(2025, 6, 1), dt.date(2024, 6, 1)
ZERO_PARTS = dict.fromkeys(
    ("loan_margin", "deposit_margin", "investment_fees", "card_income", "overdraft_interest", "cost_to_serve"), D("0")
)


def value(customer, month, profile, tier, total, driver="loan margin", **parts):
    return {
        "customer_id": customer, "month_start": month, "advisor_id": "a1", "profile": profile, "value_tier": tier,
        "contribution_12m": D(total), "main_driver": driver, "definition_version": "v1",
        **ZERO_PARTS, **{name: D(amount) for name, amount in parts.items()},
    }  # fmt: skip


def streaks(customer, withdrawals=0, loans=0, investments=0):
    return {
        "customer_id": customer, "month_start": JUNE, "high_withdrawals_months": withdrawals,
        "high_loans_months": loans, "high_investments_months": investments,
    }  # fmt: skip


TABLES = {
    "fct_customer_value": [
        value("u-tier", MAY, "Bronze", "High", "610.00"),
        value("u-tier", JUNE, "Bronze", "High", "650.00"),
        value("u-list", JUNE, "Diamond", "Core", "300.00"),
        value("u-both", JUNE, "Bronze", "Top", "2400.00", "deposit margin"),
        value("p-review", MAY, "Gold", "Negative", "-35.00", "cost to serve"),
        value("p-review", JUNE, "Gold", "Negative", "-40.00", "cost to serve"),
        value(
            "d-drop",
            JUNE_BEFORE,
            "Bronze",
            "Core",
            "300.00",
            loan_margin="40.00",
            deposit_margin="6.00",
            card_income="3.00",
            cost_to_serve="3.00",
        ),
        value("d-drop", MAY, "Bronze", "High", "520.00"),
        value(
            "d-drop",
            JUNE,
            "Bronze",
            "Core",
            "488.00",
            loan_margin="10.00",
            deposit_margin="5.00",
            card_income="3.00",
            cost_to_serve="4.00",
        ),
        value("n-neg", MAY, "Bronze", "Low", "3.00", "cost to serve"),
        value(
            "n-neg", JUNE, "Bronze", "Negative", "-1.50", "cost to serve", deposit_margin="0.50", cost_to_serve="5.00"
        ),
        value("n-new", JUNE, "Bronze", "Negative", "-7.00", "cost to serve"),
    ],  # fmt: skip
    "advisor_upgrade_candidates": [streaks("u-list", loans=4), streaks("u-both", withdrawals=3, investments=1)],
}

# (customer, action): (reason, driver, driver_change, from_upgrade_list), computed by hand
EXPECTED = {
    ("u-tier", "offer_upgrade"): (
        "value tier High (contribution over 12 months 650.00 EUR) above the Bronze profile",
        "loan margin", None, False,
    ),
    ("u-list", "offer_upgrade"): (
        "on the upgrade list: loans outstanding of at least 50000 EUR for 4 consecutive months",
        "loan margin", None, True,
    ),
    ("u-both", "offer_upgrade"): (
        "value tier Top (contribution over 12 months 2400.00 EUR) above the Bronze profile; "
        "on the upgrade list: withdrawals of at least 5000 EUR for 3 consecutive months",
        "deposit margin", None, True,
    ),
    ("p-review", "review_pricing"): (
        "value tier Negative (contribution over 12 months -40.00 EUR) below the Gold profile",
        "cost to serve", None, False,
    ),
    # loan margin 10.00 in, 40.00 out: -30.00; deposit margin -1.00; cost to serve 4.00 against 3.00: -1.00
    ("d-drop", "dropped_tier"): (
        "dropped from High to Core: contribution over 12 months 520.00 to 488.00 EUR; "
        "fell most: loan margin (-30.00 EUR over the twelve months)",
        "loan margin", D("-30.00"), False,
    ),
    # no month a year before: June's own parts are the changes, cost to serve -5.00 the largest fall
    ("n-neg", "dropped_tier"): (
        "dropped from Low to Negative: contribution over 12 months 3.00 to -1.50 EUR; "
        "fell most: cost to serve (-5.00 EUR over the twelve months)",
        "cost to serve", D("-5.00"), False,
    ),
    ("n-neg", "newly_negative"): (
        "contribution over 12 months negative: -1.50 EUR, from 3.00 EUR the month before; main driver: cost to serve",
        "cost to serve", None, False,
    ),
}  # fmt: skip


def test_one_case_per_rule():
    rows = [r for r in value_actions(TABLES) if r["month_start"] == JUNE]
    got = {
        (r["customer_id"], r["action"]): (r["reason"], r["driver"], r["driver_change"], r["from_upgrade_list"])
        for r in rows
    }
    assert len(got) == len(rows)
    assert got == EXPECTED
    # a customer new this month has no before: negative, but neither dropped nor newly negative
    assert not [r for r in rows if r["customer_id"] == "n-new"]


def test_the_thresholds_are_the_dbt_vars():
    import yaml
    from helpers import independent_value_actions as independent

    from finefinance_platform.settings import DBT_PROJECT_DIR

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert {k: tuple(v) for k, v in project["action_offer_upgrade_tiers"].items()} == independent.OFFER_UPGRADE_TIERS
    assert {k: tuple(v) for k, v in project["action_review_pricing_tiers"].items()} == independent.REVIEW_PRICING_TIERS
    assert project["action_dropped_tier_steps"] == independent.DROPPED_TIER_STEPS
