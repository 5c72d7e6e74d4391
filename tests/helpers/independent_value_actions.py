"""The risk score and the advisor's value actions, computed independently, in plain Python.

Written from docs/business-definitions.md (#risk-score, #advisor-value-actions), not from the dbt
SQL, on top of the marts `independent_marts.compute_marts` computes from a bank's rows:

- `risk_scores(tables)`: `marts.customer_risk_score`, from the customer months and the statements;
- `value_actions(tables)`: `marts.advisor_value_actions`, from the customer value rows and the
  upgrade list (`advisor_upgrade_candidates`).

`compute_value_action_marts(tables)` gives both. Arithmetic is exact (fractions), rounded half up
where the definitions say so. The rules' numbers are the dbt vars' defaults, written here again
(tests/unit/test_delivery_risk.py holds the two to the same values).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from helpers.independent_marts import HIGH_INVESTMENTS, HIGH_LOANS, HIGH_WITHDRAWALS, STREAK_MONTHS

D = Decimal
F = Fraction

# docs/business-definitions.md#risk-score (the dbt vars' defaults)
WINDOW_MONTHS = 6
RED_MAX, OVERDRAFT_MAX, SPENDING_MAX, DEBT_MAX = 35, 25, 20, 20
OVERDRAFT_FULL_EUR = F(2000)
SPENDING_SAFE, SPENDING_FULL = F("0.90"), F("1.30")
DEBT_SAFE_YEARS, DEBT_FULL_YEARS = F(1), F(5)
BANDS = (("Low", 0), ("Moderate", 25), ("High", 50), ("Critical", 75))  # label, lowest score


def half_up(value: Fraction, places: int = 2) -> Decimal:
    """`value` (>= 0) rounded half up to `places` decimals, exactly."""
    assert value >= 0, value
    scaled = math.floor(value * 10**places + F(1, 2))
    return D(scaled).scaleb(-places)


@dataclass(frozen=True)
class RiskInputs:
    months_observed: int
    months_in_red: int
    lowest_balance: Decimal
    inflows: Decimal
    outflows: Decimal
    loans_outstanding: Decimal


def _ramp(value: Fraction, safe: Fraction, full: Fraction, maximum: int) -> Fraction:
    """0 up to `safe`, `maximum` from `full`, a straight line in between."""
    if value <= safe:
        return F(0)
    if value >= full:
        return F(maximum)
    return maximum * (value - safe) / (full - safe)


def band(score: int) -> str:
    return [label for label, lowest in BANDS if score >= lowest][-1]


def score(inputs: RiskInputs) -> dict:
    """The four parts (2 decimals, half up), the score (their sum, half up) and its band."""
    n = inputs.months_observed
    inflows, outflows, loans = F(inputs.inflows), F(inputs.outflows), F(inputs.loans_outstanding)
    red = F(RED_MAX * min(inputs.months_in_red, n), n)
    overdraft = _ramp(max(F(0), -F(inputs.lowest_balance)), F(0), OVERDRAFT_FULL_EUR, OVERDRAFT_MAX)
    if inflows > 0:
        spending = _ramp(outflows / inflows, SPENDING_SAFE, SPENDING_FULL, SPENDING_MAX)
        debt = _ramp(loans / (inflows / n * 12), DEBT_SAFE_YEARS, DEBT_FULL_YEARS, DEBT_MAX)
    else:
        spending = F(SPENDING_MAX) if outflows > 0 else F(0)
        debt = F(DEBT_MAX) if loans > 0 else F(0)
    parts = {
        "red_points": half_up(red),
        "overdraft_points": half_up(overdraft),
        "spending_points": half_up(spending),
        "debt_points": half_up(debt),
    }
    total = int(half_up(F(sum(parts.values())), 0))
    return {**parts, "score": total, "band": band(total)}


def _months_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def risk_scores(tables: dict[str, list[dict]]) -> list[dict]:
    """marts.customer_risk_score: every customer month of fct_customer_month, scored over the months of
    the window (the 6 ending in M) that the marts hold for the customer."""
    credits, debits = defaultdict(lambda: D("0.00")), defaultdict(lambda: D("0.00"))
    for statement in tables["fct_monthly_statement"]:
        key = (statement["customer_id"], statement["month_start"])
        credits[key] += statement["total_credits"]
        debits[key] += statement["total_debits"]
    months_of = defaultdict(dict)
    for row in tables["fct_customer_month"]:
        months_of[row["customer_id"]][row["month_start"]] = row
    out = []
    for customer_id, held in months_of.items():
        for month, row in held.items():
            first = _months_back(month, WINDOW_MONTHS - 1)
            observed = [r for m, r in held.items() if first <= m <= month]
            # money in: credits except moves between the customer's own accounts (their debits that
            # are not withdrawals); money out: the withdrawals
            inflows = sum(
                (
                    credits[(customer_id, r["month_start"])]
                    - (debits[(customer_id, r["month_start"])] - r["withdrawals"])
                    for r in observed
                ),
                D("0.00"),
            )
            inputs = RiskInputs(
                months_observed=len(observed),
                months_in_red=sum(1 for r in observed if r["month_end_balance"] < 0),
                lowest_balance=min(r["month_end_balance"] for r in observed),
                inflows=inflows,
                outflows=sum((r["withdrawals"] for r in observed), D("0.00")),
                loans_outstanding=row["loans_outstanding"],
            )
            out.append(
                {
                    "customer_id": customer_id,
                    "month_start": month,
                    "advisor_id": row["advisor_id"],
                    **score(inputs),
                    **{name: getattr(inputs, name) for name in RiskInputs.__dataclass_fields__},
                }
            )
    return out


def compute_value_action_marts(tables: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """`marts.customer_risk_score` and, once the customer value rows are there,
    `marts.advisor_value_actions`, from the marts of `independent_marts.compute_marts`."""
    marts = {"customer_risk_score": risk_scores(tables)}
    if "fct_customer_value" in tables:
        marts["advisor_value_actions"] = value_actions(tables)
    return marts


# docs/business-definitions.md#advisor-value-actions (the dbt vars' defaults)
OFFER_UPGRADE_TIERS = {"Bronze": ("High", "Top"), "Gold": ("Top",)}
REVIEW_PRICING_TIERS = {"Gold": ("Negative", "Low"), "Diamond": ("Negative", "Low")}
DROPPED_TIER_STEPS = 1
TIER_ORDER = ("Negative", "Low", "Core", "High", "Top")
# the parts of the contribution in main_driver's tie order, with their sign in the contribution
PARTS = (
    ("loan_margin", "loan margin", 1),
    ("deposit_margin", "deposit margin", 1),
    ("investment_fees", "investment fees", 1),
    ("card_income", "card income", 1),
    ("overdraft_interest", "overdraft interest", 1),
    ("cost_to_serve", "cost to serve", -1),
)
STREAKS = (
    ("high_withdrawals_months", "withdrawals", HIGH_WITHDRAWALS),
    ("high_loans_months", "loans outstanding", HIGH_LOANS),
    ("high_investments_months", "investments held", HIGH_INVESTMENTS),
)


def eur(amount: Decimal) -> str:
    """An amount as the warehouse writes a DECIMAL(18, 2) in words: 27.50, -3.62, 0.00."""
    return str((amount if amount != 0 else D(0)).quantize(D("0.01")))


def value_actions(tables: dict[str, list[dict]]) -> list[dict]:
    """marts.advisor_value_actions: for each customer month of fct_customer_value, one row per action
    whose rule holds, with the rule in words."""
    value = {(r["customer_id"], r["month_start"]): r for r in tables["fct_customer_value"]}
    upgrade_list = {(r["customer_id"], r["month_start"]): r for r in tables["advisor_upgrade_candidates"]}
    out = []
    for (customer_id, month), row in value.items():
        before = value.get((customer_id, _months_back(month, 1)))
        year_before = value.get((customer_id, _months_back(month, 12)))
        tier, profile, total = row["value_tier"], row["profile"], row["contribution_12m"]
        in_words = f" (contribution over 12 months {eur(total)} EUR)"
        listed = upgrade_list.get((customer_id, month))

        def action(name, reason, driver=row["main_driver"], change=None, row=row, before=before, listed=listed):
            out.append(
                {
                    "month_start": row["month_start"],
                    "customer_id": row["customer_id"],
                    "advisor_id": row["advisor_id"],
                    "value_tier": row["value_tier"],
                    "profile": row["profile"],
                    "action": name,
                    "reason": reason,
                    "driver": driver,
                    "driver_change": change,
                    "contribution_12m": row["contribution_12m"],
                    "previous_value_tier": before["value_tier"] if before else None,
                    "previous_contribution_12m": before["contribution_12m"] if before else None,
                    "from_upgrade_list": listed is not None,
                }
            )

        # offer_upgrade: the tier is above the profile, or the upgrade list holds the customer (its
        # streak rule lives there; the reason names it)
        upgrade_reasons = []
        if tier in OFFER_UPGRADE_TIERS.get(profile, ()):
            upgrade_reasons.append(f"value tier {tier}{in_words} above the {profile} profile")
        for column, measure, threshold in STREAKS if listed else ():
            if listed[column] >= STREAK_MONTHS:
                months = listed[column]
                upgrade_reasons.append(
                    f"on the upgrade list: {measure} of at least {threshold} EUR for {months} consecutive months"
                )
        if upgrade_reasons:
            action("offer_upgrade", "; ".join(upgrade_reasons))
        if tier in REVIEW_PRICING_TIERS.get(profile, ()):
            action("review_pricing", f"value tier {tier}{in_words} below the {profile} profile")
        if before is None:
            continue
        # what each part moved contribution_12m by since M-1: this month's in, M-12's out
        changes = [
            (sign * (row[column] - (year_before[column] if year_before else D(0))), words)
            for column, words, sign in PARTS
        ]
        fall = min(change for change, _ in changes)
        falling = next(words for change, words in changes if change == fall)
        if TIER_ORDER.index(before["value_tier"]) - TIER_ORDER.index(tier) >= DROPPED_TIER_STEPS:
            reason = (
                f"dropped from {before['value_tier']} to {tier}: contribution over 12 months "
                f"{eur(before['contribution_12m'])} to {eur(total)} EUR; fell most: {falling} "
                f"({eur(fall)} EUR over the twelve months)"
            )
            if before.get("definition_version") != row.get("definition_version"):
                reason += "; the value definition changed since the month before"
            action("dropped_tier", reason, driver=falling, change=fall)
        if total < 0 <= before["contribution_12m"]:
            action(
                "newly_negative",
                f"contribution over 12 months negative: {eur(total)} EUR, from "
                f"{eur(before['contribution_12m'])} EUR the month before; main driver: {row['main_driver']}",
            )
    return out
