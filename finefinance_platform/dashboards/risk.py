"""Customer health & risk score: how the dashboards explain it. The score itself is a mart.

`marts.customer_risk_score` (dbt_project/models/marts/value/customer_risk_score.sql) computes the
score, its four parts and their inputs, per customer and month, from dbt vars whose defaults are in
dbt_project/dbt_project.yml (docs/business-definitions.md#risk-score). This module only words those
same numbers for the page (`RULES`, `BANDS`, `WINDOW_MONTHS`), read from the project's vars, so what
advisors read is what the mart does: one definition, in dbt.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import yaml

from finefinance_platform.settings import DBT_PROJECT_DIR


@cache
def risk_vars() -> dict:
    """The `risk_*` vars of dbt_project.yml, as the mart's defaults (numbers as Decimal)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    found = {name: value for name, value in project["vars"].items() if name.startswith("risk_")}
    return {
        name: value if isinstance(value, list) else Decimal(str(value)).normalize() for name, value in found.items()
    }


def _int(name: str) -> int:
    return int(risk_vars()[name])


def _pct(name: str) -> str:
    return f"{risk_vars()[name] * 100:.0f}%"


def _years(name: str) -> str:
    value = risk_vars()[name]
    return f"{value:f} year" + ("" if value == 1 else "s")


WINDOW_MONTHS = _int("risk_window_months")
# (label, lowest score), lowest first
BANDS: tuple[tuple[str, int], ...] = tuple((str(label), int(lowest)) for label, lowest in risk_vars()["risk_bands"])


def _band_ranges() -> str:
    uppers = [lowest - 1 for _, lowest in BANDS[1:]] + [100]
    return ", ".join(f"{label} {lowest}-{upper}" for (label, lowest), upper in zip(BANDS, uppers, strict=True))


def _rules() -> tuple[str, ...]:
    red, overdraft = _int("risk_red_max_points"), _int("risk_overdraft_max_points")
    spending, debt = _int("risk_spending_max_points"), _int("risk_debt_max_points")
    full_eur = risk_vars()["risk_overdraft_full_eur"]
    return (
        f"**Months in the red** (up to {red} points): {red} x the share of the observed months "
        f"(at most the last {WINDOW_MONTHS}) that ended with a negative balance (all accounts together).",
        f"**Depth of overdraft** (up to {overdraft} points): the lowest month-end balance of the window, "
        f"when below zero, as a share of {full_eur:,f} EUR (deeper scores the full {overdraft}).",
        f"**Outflows against inflows** (up to {spending} points): money out (withdrawals: debits except "
        "moves between the customer's own accounts) divided by money in (credits except those same moves). "
        f"Nothing up to {_pct('risk_spending_safe_ratio')}, the full {spending} from "
        f"{_pct('risk_spending_full_ratio')}, linear in between; the full {spending} for outflows with no inflow.",
        f"**Debt against income** (up to {debt} points): loans outstanding in the month divided by a year "
        f"of income (12 x the average monthly inflow). Nothing up to {_years('risk_debt_safe_years')}, the "
        f"full {debt} from {_years('risk_debt_full_years')}, linear in between; the full {debt} for a loan "
        "with no income.",
        "**Score** = the four parts, each rounded half up to 2 decimals as shown, added and rounded half up "
        f"to a whole number (18.50 scores 19). Bands: {_band_ranges()}.",
    )


RULES = _rules()
