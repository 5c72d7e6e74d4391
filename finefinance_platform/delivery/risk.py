"""Customer health & risk score: transparent rules, 0 (healthy) to 100 (at risk).

Four parts, each capped, computed over a window of months ending with the chosen month, from the
marts only (`fct_customer_month`, `fct_monthly_statement`). The rules are plain data here; the
dashboard prints `RULES` as they are, so what advisors read is what the code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WINDOW_MONTHS = 6

RED_MAX = 35
OVERDRAFT_MAX = 25
SPENDING_MAX = 20
DEBT_MAX = 20
OVERDRAFT_FULL_EUR = Decimal("2000")  # an overdraft this deep (or deeper) scores the full 25
SPENDING_SAFE_RATIO = Decimal("0.90")  # spending up to 90 % of what comes in scores nothing
SPENDING_FULL_RATIO = Decimal("1.30")  # spending 130 % of it (or more) scores the full 20
DEBT_SAFE_YEARS = Decimal("1")  # loans up to one year of income score nothing
DEBT_FULL_YEARS = Decimal("5")  # loans of five years of income (or more) score the full 20

BANDS = ((25, "Low"), (50, "Moderate"), (75, "High"), (101, "Critical"))

RULES = (
    f"**Months in the red** (up to {RED_MAX} points): {RED_MAX} x the share of the observed months "
    f"(at most the last {WINDOW_MONTHS}) that ended with a negative balance (all accounts together).",
    f"**Depth of overdraft** (up to {OVERDRAFT_MAX} points): the lowest month-end balance of the window, "
    f"when below zero, as a share of {OVERDRAFT_FULL_EUR:,} EUR (deeper scores the full {OVERDRAFT_MAX}).",
    f"**Outflows against inflows** (up to {SPENDING_MAX} points): money out (withdrawals: debits except "
    "moves between the customer's own accounts) divided by money in (credits except those same moves). "
    f"Nothing up to {SPENDING_SAFE_RATIO:.0%}, the full {SPENDING_MAX} from {SPENDING_FULL_RATIO:.0%}, "
    f"linear in between; the full {SPENDING_MAX} for outflows with no inflow.",
    f"**Debt against income** (up to {DEBT_MAX} points): loans outstanding in the month divided by a year "
    f"of income (12 x the average monthly inflow). Nothing up to {DEBT_SAFE_YEARS} year, the full {DEBT_MAX} "
    f"from {DEBT_FULL_YEARS} years, linear in between; the full {DEBT_MAX} for a loan with no income.",
    "**Score** = the sum, rounded to a whole number. Bands: "
    + ", ".join(
        f"{label} {low}-{high - 1}"
        for (low, (high, label)) in zip([0] + [b[0] for b in BANDS[:-1]], BANDS, strict=True)
    )
    + ".",
)


@dataclass(frozen=True)
class RiskInputs:
    months_observed: int
    months_in_red: int
    lowest_balance: Decimal
    inflows: Decimal
    outflows: Decimal
    loans_outstanding: Decimal


@dataclass(frozen=True)
class RiskScore:
    red_points: float
    overdraft_points: float
    spending_points: float
    debt_points: float

    @property
    def total(self) -> int:
        return round(self.red_points + self.overdraft_points + self.spending_points + self.debt_points)

    @property
    def band(self) -> str:
        return band(self.total)


def band(score: int) -> str:
    return next(label for upper, label in BANDS if score < upper)


def _linear(value: Decimal, safe: Decimal, full: Decimal, maximum: int) -> float:
    """0 up to `safe`, `maximum` from `full`, a straight line in between."""
    if value <= safe:
        return 0.0
    if value >= full:
        return float(maximum)
    return float(maximum * (value - safe) / (full - safe))


def score_customer(inputs: RiskInputs) -> RiskScore:
    if inputs.months_observed <= 0:
        return RiskScore(0.0, 0.0, 0.0, 0.0)
    red = RED_MAX * min(inputs.months_in_red, inputs.months_observed) / inputs.months_observed

    depth = max(Decimal(0), -inputs.lowest_balance)
    overdraft = float(OVERDRAFT_MAX * min(Decimal(1), depth / OVERDRAFT_FULL_EUR))

    if inputs.inflows > 0:
        spending = _linear(inputs.outflows / inputs.inflows, SPENDING_SAFE_RATIO, SPENDING_FULL_RATIO, SPENDING_MAX)
    else:
        spending = float(SPENDING_MAX) if inputs.outflows > 0 else 0.0

    yearly_income = inputs.inflows / inputs.months_observed * 12
    if yearly_income > 0:
        debt = _linear(inputs.loans_outstanding / yearly_income, DEBT_SAFE_YEARS, DEBT_FULL_YEARS, DEBT_MAX)
    else:
        debt = float(DEBT_MAX) if inputs.loans_outstanding > 0 else 0.0

    return RiskScore(red, overdraft, spending, debt)
