"""`finefinance value backtest`: does the value tier predict value?

For every month M of `marts.fct_customer_value` that has its six later months in the mart, over
the customers with a row in M: the Spearman rank correlation of the value tier (`value_tier_rank`,
1 Negative .. 5 Top) with the customer's contribution summed over M+1..M+6, beside the same
correlation for the profile the bank assigned (Bronze 1 < Gold 2 < Diamond 3, the `profile_rank`
of seeds/profile_labels.csv), and the share of customers whose tier moved between M and M+1 and
between M and M+6 (among those with a row in both months). A customer missing in some later
months (gone from the source) counts with the months that exist: a customer who is gone brings
nothing. docs/business-definitions.md ("Does the tier predict value?") has the figures.

It reads the marts through `open_marts` (the DuckDB serving copy, or Snowflake as the reporting
identity) with one SQL query that runs on both: Spearman's coefficient is Pearson's `corr()` of
average ranks, a tie's average rank being `rank() + (ties - 1) / 2`. No access-policy principal
is needed and nothing is logged to audit.access_log: it is an operations/analyst command that
prints aggregates over all customers of a month (counts, shares, correlations), never a customer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from finefinance_platform.errors import FineFinanceError

HORIZON_MONTHS = 6
MIN_MONTHS = HORIZON_MONTHS + 1
TABLE = "marts.fct_customer_value"
# profile -> profile_rank, as seeds/profile_labels.csv ranks them (the serving copy holds only `marts`)
PROFILE_RANKS = {"Bronze": 1, "Gold": 2, "Diamond": 3}


class BacktestUnavailableError(FineFinanceError):
    pass


def _average_rank(partition: str, order: str) -> str:
    """Average rank of `order` within `partition` (ties share the mean of the ranks they span)."""
    return (
        f"(rank() over (partition by {partition} order by {order}) "
        f"+ (count(*) over (partition by {partition}, {order}) - 1) / 2.0)"
    )


def _spearman(x: str, y: str) -> str:
    """corr() of two average ranks; NULL when either side is constant (the coefficient is undefined)."""
    return (
        f"case when min({x}) < max({x}) and min({y}) < max({y}) then corr(cast({x} as double), cast({y} as double)) end"
    )


_PROFILE_CASE = " ".join(f"when '{name}' then {rank}" for name, rank in PROFILE_RANKS.items())

# Months are numbered year * 12 + month so "M + k" is plain arithmetic on both warehouses.
QUERY = f"""
with cv as (
    select customer_id,
           month_start,
           extract(year from month_start) * 12 + extract(month from month_start) as month_index,
           value_tier_rank,
           case profile {_PROFILE_CASE} end as profile_rank,
           contribution,
           definition_version
    from {TABLE}
),
months as (
    select distinct month_start, month_index from cv
),
eligible as (
    select m.month_start, m.month_index
    from months as m
    join months as later
      on later.month_index between m.month_index + 1 and m.month_index + {HORIZON_MONTHS}
    group by m.month_start, m.month_index
    having count(*) = {HORIZON_MONTHS}
),
base as (
    select f.customer_id,
           f.month_start,
           f.value_tier_rank,
           f.profile_rank,
           f.definition_version,
           coalesce(sum(g.contribution), 0) as future_contribution,
           count(g.customer_id) as later_months,
           max(case when g.month_index = f.month_index + 1 then g.value_tier_rank end) as tier_next,
           max(case when g.month_index = f.month_index + {HORIZON_MONTHS} then g.value_tier_rank end) as tier_last
    from cv as f
    join eligible as e on e.month_start = f.month_start
    left join cv as g
      on g.customer_id = f.customer_id
     and g.month_index between f.month_index + 1 and f.month_index + {HORIZON_MONTHS}
    group by f.customer_id, f.month_start, f.value_tier_rank, f.profile_rank, f.definition_version
),
ranked as (
    select month_start,
           definition_version,
           value_tier_rank,
           tier_next,
           tier_last,
           later_months,
           future_contribution,
           {_average_rank("month_start", "value_tier_rank")} as tier_r,
           {_average_rank("month_start", "future_contribution")} as future_r,
           case when profile_rank is not null
                then {_average_rank("month_start, profile_rank is null", "profile_rank")} end as profile_r,
           case when profile_rank is not null
                then {_average_rank("month_start, profile_rank is null", "future_contribution")} end as future_pr
    from base
)
select month_start,
       count(*) as customers,
       sum(case when later_months < {HORIZON_MONTHS} then 1 else 0 end) as customers_missing_later,
       {_spearman("tier_r", "future_r")} as tier_spearman,
       count(profile_r) as customers_with_profile,
       {_spearman("profile_r", "future_pr")} as profile_spearman,
       count(tier_next) as customers_next,
       sum(case when tier_next <> value_tier_rank then 1 else 0 end) as moved_next,
       count(tier_last) as customers_last,
       sum(case when tier_last <> value_tier_rank then 1 else 0 end) as moved_last,
       min(definition_version) as definition_version,
       count(distinct definition_version) as definition_versions
from ranked
group by month_start
order by month_start
"""


@dataclasses.dataclass(frozen=True)
class MonthResult:
    month_start: dt.date
    customers: int  # with a row in M
    customers_missing_later: int  # of them, with fewer than six rows in M+1..M+6
    tier_spearman: float | None  # None: undefined (one tier, or the same future value for all)
    customers_with_profile: int
    profile_spearman: float | None
    moved_next_share: float | None  # among the customers with a row in M and in M+1
    moved_6_share: float | None  # among the customers with a row in M and in M+6
    definition_version: str | None  # the one of M's rows (the smallest when M's rows disagree)


@dataclasses.dataclass(frozen=True)
class Backtest:
    months_in_mart: int
    months: list[MonthResult]

    def _mean(self, field: str) -> float | None:
        values = [getattr(m, field) for m in self.months if getattr(m, field) is not None]
        return sum(values) / len(values) if values else None

    @property
    def mean_tier_spearman(self) -> float | None:
        return self._mean("tier_spearman")

    @property
    def mean_profile_spearman(self) -> float | None:
        return self._mean("profile_spearman")

    @property
    def mean_moved_next_share(self) -> float | None:
        return self._mean("moved_next_share")

    @property
    def mean_moved_6_share(self) -> float | None:
        return self._mean("moved_6_share")

    @property
    def definition_versions(self) -> list[str]:
        return sorted({m.definition_version for m in self.months if m.definition_version})

    def as_dict(self) -> dict:
        return {
            "horizon_months": HORIZON_MONTHS,
            "months_in_mart": self.months_in_mart,
            "months_counted": len(self.months),
            "mean_tier_spearman": self.mean_tier_spearman,
            "mean_profile_spearman": self.mean_profile_spearman,
            "mean_moved_next_share": self.mean_moved_next_share,
            "mean_moved_6_share": self.mean_moved_6_share,
            "definition_versions": self.definition_versions,
            "months": [{**dataclasses.asdict(m), "month_start": m.month_start.isoformat()} for m in self.months],
        }


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _share(part, whole) -> float | None:
    return int(part or 0) / int(whole) if whole else None


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def run_backtest(con) -> Backtest:
    """The backtest over the marts behind `con` (from `open_marts`)."""
    from finefinance_platform.serving.marts import has_table

    if not has_table(con, "marts", "fct_customer_value"):
        raise BacktestUnavailableError(f"no {TABLE} in the marts yet: build the value marts first (`finefinance run`)")
    (found,) = con.execute(f"select count(distinct month_start) from {TABLE}").fetchone()
    found = int(found or 0)
    if found < MIN_MONTHS:
        raise BacktestUnavailableError(f"needs at least {MIN_MONTHS} months of {TABLE}; found {found}")
    months = [
        MonthResult(
            month_start=_as_date(month),
            customers=int(customers),
            customers_missing_later=int(missing or 0),
            tier_spearman=_float(tier),
            customers_with_profile=int(with_profile),
            profile_spearman=_float(profile),
            moved_next_share=_share(moved_next, customers_next),
            moved_6_share=_share(moved_last, customers_last),
            definition_version=version,
        )
        for (month, customers, missing, tier, with_profile, profile, customers_next, moved_next, customers_last,
             moved_last, version, _versions) in con.execute(QUERY).fetchall()
    ]  # fmt: skip
    return Backtest(months_in_mart=found, months=months)


def _fmt(value: float | None, pattern: str = "{:+.3f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def report_lines(result: Backtest) -> list[str]:
    """One line per month and a summary line, as `finefinance value backtest` prints them."""
    lines = [
        f"Does the tier predict value? Spearman rank correlation with the contribution of the next "
        f"{HORIZON_MONTHS} months ({TABLE})"
    ]
    for m in result.months:
        missing = f", {m.customers_missing_later} missing some later month" if m.customers_missing_later else ""
        lines.append(
            f"{m.month_start:%Y-%m}  customers {m.customers}{missing}  tier {_fmt(m.tier_spearman)}  "
            f"profile {_fmt(m.profile_spearman)}  tier moved by M+1 {_pct(m.moved_next_share)}, "
            f"by M+{HORIZON_MONTHS} {_pct(m.moved_6_share)}"
        )
    versions = ", ".join(result.definition_versions) or "none"
    lines.append(
        f"summary: {len(result.months)} months counted (of {result.months_in_mart} in the mart)  "
        f"mean tier {_fmt(result.mean_tier_spearman)}  mean profile {_fmt(result.mean_profile_spearman)}  "
        f"mean tier moved by M+1 {_pct(result.mean_moved_next_share)}, "
        f"by M+{HORIZON_MONTHS} {_pct(result.mean_moved_6_share)}  definition_version {versions}"
    )
    return lines
