"""Customer value for the "Customer value" page: figures and what each is made of (no Streamlit here).

Every figure the page shows is a `Figure`: a measure (customers, contribution, a driver,
contribution_12m) of a month, optionally narrowed to a value tier, an assigned profile, an
advisor's book or a cell of the migration matrix. `figure_total` gives its value and `breakdown`
its parts by one dimension (driver, profile, advisor, tier, main driver; an advisor's own customers):
the parts sum to the figure exactly (Decimal money, integer counts), which the tests check for
every figure of a month. `driver_evidence` gives what one customer's driver is made of: the
month-end balances (fct_monthly_statement), the products (dim_product) and the statement lines
(fct_statement_line) behind it.

Every read takes the reader's `CustomerScope` (access/policy.py): an advisor's figures are their own
customers' only (the advisor as `dim_customer` records it, as every other page reads), a director's
are the whole bank's. A breakdown that names customers refuses a scope of everyone, whatever the
page asked: the policy (`authorize_drill`) decides and logs every drill before it is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, CustomerScope, Decision, Principal, decide
from finefinance_platform.months import add_months, current_month
from finefinance_platform.serving.marts import has_table
from finefinance_platform.settings import Settings

# the drivers of a contribution, with their sign in it (docs/business-definitions.md, customer value)
DRIVERS: dict[str, tuple[str, int]] = {
    "deposit_margin": ("Deposit margin", 1),
    "overdraft_interest": ("Overdraft interest", 1),
    "loan_margin": ("Loan margin", 1),
    "card_income": ("Card income", 1),
    "investment_fees": ("Investment fees", 1),
    "cost_to_serve": ("Cost to serve", -1),
}
MEASURES: dict[str, str] = {
    "customers": "Customers",
    "contribution": "Contribution",
    "contribution_12m": "Contribution, 12 months",
    **{name: label for name, (label, _) in DRIVERS.items()},
}
MONEY = tuple(name for name in MEASURES if name != "customers")
BREAKDOWNS: dict[str, str] = {
    "driver": "driver",
    "profile": "assigned profile",
    "advisor": "advisor",
    "tier": "value tier",
    "main_driver": "main driver",
    "customer": "customer",
}
CUSTOMER_BREAKDOWNS = frozenset({"customer"})
NEW, GONE = "new", "gone"  # the matrix's labels for a NULL from_tier / to_tier
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Figure:
    """One number of the page: `measure` in `month`, narrowed by the filters that are set.

    `migration` is a cell of the migration matrix, (from_tier, to_tier) with None for a customer new
    in the month (from) or gone from it (to); its measure is `customers`."""

    month: dt.date
    measure: str = "contribution"
    tier: str | None = None
    profile: str | None = None
    advisor_id: str | None = None
    migration: tuple[str | None, str | None] | None = None

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}")
        if self.migration is not None and self.measure != "customers":
            raise ValueError("a cell of the migration matrix counts customers")

    def describe(self) -> str:
        """The figure in words (the access log's detail; never a customer's name)."""
        parts = [MEASURES[self.measure], f"{self.month:%Y-%m}"]
        if self.migration is not None:
            source, target = self.migration
            parts.append(f"moved {source or NEW} -> {target or GONE}")
        if self.tier is not None:
            parts.append(f"tier {self.tier}")
        if self.profile is not None:
            parts.append(f"profile {self.profile}")
        if self.advisor_id is not None:
            parts.append(f"advisor {self.advisor_id}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Part:
    """One part of a breakdown: `key` identifies it (a driver, a tier, an advisor's or customer's
    id), `label` is what the page shows."""

    key: str | None
    label: str
    value: Decimal | int


def breakdowns_of(figure: Figure, customer_level: bool) -> list[str]:
    """The dimensions `figure` may be broken down by (customers only where `customer_level`)."""
    options = []
    if figure.measure == "contribution":
        options.append("driver")
    for by in ("tier", "profile", "advisor", "main_driver"):
        if by == "tier" and (figure.tier is not None or figure.migration is not None):
            continue
        if (by == "profile" and figure.profile is not None) or (by == "advisor" and figure.advisor_id is not None):
            continue
        options.append(by)
    if customer_level:
        options.append("customer")
    return options


def _number(value, measure: str) -> Decimal | int:
    if measure == "customers":
        return int(value or 0)
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def value_months(con, today: dt.date | None = None) -> list[dt.date]:
    """Closed months with customer value, newest first (empty without the mart)."""
    if not has_table(con, "marts", "fct_customer_value"):
        return []
    rows = con.execute(
        "select distinct month_start from marts.fct_customer_value where month_start < ? order by 1 desc",
        [current_month(today)],
    ).fetchall()
    return [month for (month,) in rows]


def tier_order(con) -> list[str]:
    """The value tiers, highest first (tiers are bands of contribution_12m: ordered by their floor)."""
    rows = con.execute(
        "select value_tier from marts.fct_customer_value where value_tier is not null "
        "group by value_tier order by min(contribution_12m) desc, value_tier"
    ).fetchall()
    return [tier for (tier,) in rows]


def _population(figure: Figure, scope: CustomerScope) -> tuple[str, list]:
    """SQL of the customers a figure counts, one row each (customer_id, advisor_id, profile, tier,
    main_driver, the drivers, contribution, contribution_12m), and its parameters."""
    condition, scope_params = scope.sql("c.customer_id", "c.advisor_id")
    if figure.migration is None:
        sql = f"""
            select cast(v.customer_id as varchar) as customer_id, cast(v.advisor_id as varchar) as advisor_id,
                   v.profile, v.value_tier as tier, v.main_driver,
                   {", ".join(f"v.{name}" for name in DRIVERS)}, v.contribution, v.contribution_12m
            from marts.fct_customer_value v
            left join marts.dim_customer c on cast(c.customer_id as varchar) = cast(v.customer_id as varchar)
            where v.month_start = ? and {condition}
        """
        params = [figure.month, *scope_params]
    else:
        # a customer in the cell (from, to): their tier in M-1 (NULL: not there, new) and in M
        # (NULL: gone); what describes them is M's row, or M-1's for a customer gone
        source, target = figure.migration
        sql = f"""
            with cur as (select * from marts.fct_customer_value where month_start = ?),
            prev as (select * from marts.fct_customer_value where month_start = ?)
            select cast(coalesce(cur.customer_id, prev.customer_id) as varchar) as customer_id,
                   cast(coalesce(cur.advisor_id, prev.advisor_id) as varchar) as advisor_id,
                   coalesce(cur.profile, prev.profile) as profile, cur.value_tier as tier,
                   coalesce(cur.main_driver, prev.main_driver) as main_driver,
                   {", ".join(f"cur.{name}" for name in DRIVERS)}, cur.contribution, cur.contribution_12m
            from cur full outer join prev on cast(cur.customer_id as varchar) = cast(prev.customer_id as varchar)
            left join marts.dim_customer c
                on cast(c.customer_id as varchar) = cast(coalesce(cur.customer_id, prev.customer_id) as varchar)
            where {condition}
              and {"prev.customer_id is null" if source is None else "prev.value_tier = ?"}
              and {"cur.customer_id is null" if target is None else "cur.value_tier = ?"}
        """
        params = [figure.month, add_months(figure.month, -1), *scope_params]
        params += [value for value in (source, target) if value is not None]
    filters = []
    for column, value in (("tier", figure.tier), ("profile", figure.profile), ("advisor_id", figure.advisor_id)):
        if value is not None:
            filters.append(f"{column} = ?")
            params.append(value)
    sql = f"select * from ({sql}) population" + (f" where {' and '.join(filters)}" if filters else "")
    return sql, params


def _measure_sql(measure: str) -> str:
    return "count(*)" if measure == "customers" else f"sum({measure})"


def figure_total(con, figure: Figure, scope: CustomerScope) -> Decimal | int:
    """The figure itself. A cell of the migration matrix, for the whole bank, is the mart's
    `value_tier_migrations.customer_count`; every other figure sums `fct_customer_value`."""
    narrowed = figure.tier is not None or figure.profile is not None or figure.advisor_id is not None
    if figure.migration is not None and scope.everyone and not narrowed:
        source, target = figure.migration
        row = con.execute(
            f"""
            select sum(customer_count) from marts.value_tier_migrations
            where month_start = ? and {"from_tier is null" if source is None else "from_tier = ?"}
              and {"to_tier is null" if target is None else "to_tier = ?"}
            """,
            [figure.month, *(value for value in (source, target) if value is not None)],
        ).fetchone()
        return _number(row[0], "customers")
    sql, params = _population(figure, scope)
    (value,) = con.execute(f"select {_measure_sql(figure.measure)} from ({sql}) p", params).fetchone()
    return _number(value, figure.measure)


def breakdown(con, figure: Figure, by: str, scope: CustomerScope) -> list[Part]:
    """`figure` in parts by `by`; the parts sum to `figure_total` exactly. Parts named by a
    customer are for a scope that is an advisor's book (or one customer) only."""
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}")
    if by in CUSTOMER_BREAKDOWNS and scope.everyone:
        raise ValueError("a breakdown by customer is for an advisor's own book only")
    sql, params = _population(figure, scope)
    if by == "driver":
        if figure.measure != "contribution":
            raise ValueError("only a contribution is broken down by driver")
        sums = ", ".join(f"sum({name})" for name in DRIVERS)
        row = con.execute(f"select {sums} from ({sql}) p", params).fetchone()
        return [
            Part(name, label, sign * _number(value, name))
            for (name, (label, sign)), value in zip(DRIVERS.items(), row, strict=True)
        ]
    measure = _measure_sql(figure.measure)
    if by == "advisor":
        query = f"""
            select p.advisor_id, coalesce(a.firstname || ' ' || a.surname, 'no advisor'), {measure}
            from ({sql}) p
            left join marts.dim_advisor a on cast(a.advisor_id as varchar) = p.advisor_id
            group by all
        """
    elif by == "customer":
        query = f"""
            select p.customer_id, coalesce(c.firstname || ' ' || c.surname, p.customer_id), {measure}
            from ({sql}) p
            left join marts.dim_customer c on cast(c.customer_id as varchar) = p.customer_id
            group by all
        """
    else:
        column = {"profile": "profile", "tier": "tier", "main_driver": "main_driver"}[by]
        query = f"select {column}, coalesce(cast({column} as varchar), 'none'), {measure} from ({sql}) p group by all"
    rows = con.execute(query, params).fetchall()
    parts = [Part(key, label, _number(value, figure.measure)) for key, label, value in rows]
    if by == "tier":
        order = {tier: index for index, tier in enumerate(tier_order(con))}
        return sorted(parts, key=lambda part: (order.get(part.key, len(order)), part.label))
    return sorted(parts, key=lambda part: (-abs(part.value), part.label))


def parts_frame(parts: list[Part], by: str, measure: str) -> pd.DataFrame:
    """A breakdown as a table for the page (money as float for display; the sums stay Decimal)."""
    values = [int(p.value) if measure == "customers" else float(p.value) for p in parts]
    return pd.DataFrame({BREAKDOWNS[by]: [p.label for p in parts], MEASURES[measure]: values})


# -- the page's tables ------------------------------------------------------------------------------


def _frame(con, sql: str, params: list) -> pd.DataFrame:
    frame = con.execute(sql, params).df()
    for column in frame.columns:
        present = frame[column].dropna()
        if frame[column].dtype == object and len(present) and isinstance(present.iloc[0], Decimal):
            frame[column] = frame[column].astype(float)
    return frame


def _grouped(con, month: dt.date, scope: CustomerScope, key_sql: str, label_sql: str, joins: str = "") -> pd.DataFrame:
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    drivers = ", ".join(f"sum(v.{name}) as {name}" for name in DRIVERS)
    return _frame(
        con,
        f"""
        select {key_sql} as key, {label_sql} as label, count(*) as customers, sum(v.contribution) as contribution,
               sum(v.contribution_12m) as contribution_12m, {drivers}
        from marts.fct_customer_value v
        left join marts.dim_customer c on cast(c.customer_id as varchar) = cast(v.customer_id as varchar)
        {joins}
        where v.month_start = ? and {condition}
        group by all
        order by label
        """,
        [month, *params],
    )


def book_totals(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    """One row: the customers, contribution, contribution_12m and drivers of the scope in `month`."""
    return _grouped(con, month, scope, "'all'", "'all'")


def by_tier(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    frame = _grouped(con, month, scope, "v.value_tier", "v.value_tier")
    order = {tier: index for index, tier in enumerate(tier_order(con))}
    frame["rank"] = frame["key"].map(lambda tier: order.get(tier, len(order)))
    return frame.sort_values("rank").drop(columns="rank").reset_index(drop=True)


def by_profile(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    frame = _grouped(con, month, scope, "v.profile", "v.profile")
    order = {"Bronze": 0, "Gold": 1, "Diamond": 2}
    frame["rank"] = frame["key"].map(lambda profile: order.get(profile, len(order)))
    return frame.sort_values(["rank", "key"]).drop(columns="rank").reset_index(drop=True)


def by_advisor(con, month: dt.date) -> pd.DataFrame:
    """Each advisor's book in `month` (the advisor of the customer-month in the mart): totals only."""
    return _grouped(
        con,
        month,
        CustomerScope(everyone=True),
        "cast(v.advisor_id as varchar)",
        "coalesce(a.firstname || ' ' || a.surname, 'no advisor')",
        "left join marts.dim_advisor a on cast(a.advisor_id as varchar) = cast(v.advisor_id as varchar)",
    )


def tier_mix(con, scope: CustomerScope) -> pd.DataFrame:
    """Customers per value tier, month by month (closed months)."""
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select v.month_start, v.value_tier as tier, count(*) as customers
        from marts.fct_customer_value v
        left join marts.dim_customer c on cast(c.customer_id as varchar) = cast(v.customer_id as varchar)
        where v.month_start < ? and {condition}
        group by all order by 1, 2
        """,
        [current_month(), *params],
    )


def migrations(con, month: dt.date) -> pd.DataFrame:
    """The mart's migration matrix of `month` as rows: from_tier, to_tier (NULL: new / gone), customer_count."""
    return _frame(
        con,
        "select from_tier, to_tier, customer_count from marts.value_tier_migrations where month_start = ?",
        [month],
    )


def customers_of_tier(con, month: dt.date, tier: str, scope: CustomerScope) -> pd.DataFrame:
    """The customers of one tier in `month`, in scope (an advisor's own), with their drivers."""
    if scope.everyone:
        raise ValueError("customers are listed for an advisor's own book only")
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select c.firstname || ' ' || c.surname as name, v.profile, v.main_driver, v.contribution,
               v.contribution_12m, {", ".join(f"v.{name}" for name in DRIVERS)},
               cast(v.customer_id as varchar) as customer_id
        from marts.fct_customer_value v
        join marts.dim_customer c on cast(c.customer_id as varchar) = cast(v.customer_id as varchar)
        where v.month_start = ? and v.value_tier = ? and {condition}
        order by v.contribution_12m desc, name
        """,
        [month, tier, *params],
    )


def movers(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    """Customers in scope whose tier changed since M-1, and why: the driver whose amount in the
    contribution moved most between the two months, and by how much."""
    if scope.everyone:
        raise ValueError("movers are listed for an advisor's own book only")
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    changes = ", ".join(f"{sign} * (cur.{name} - prev.{name}) as {name}" for name, (_, sign) in DRIVERS.items())
    frame = _frame(
        con,
        f"""
        select c.firstname || ' ' || c.surname as name, prev.value_tier as from_tier, cur.value_tier as to_tier,
               cur.contribution_12m - prev.contribution_12m as contribution_12m_change,
               cur.contribution - prev.contribution as contribution_change, {changes},
               cast(cur.customer_id as varchar) as customer_id
        from marts.fct_customer_value cur
        join marts.fct_customer_value prev
            on cast(prev.customer_id as varchar) = cast(cur.customer_id as varchar) and prev.month_start = ?
        join marts.dim_customer c on cast(c.customer_id as varchar) = cast(cur.customer_id as varchar)
        where cur.month_start = ? and cur.value_tier is distinct from prev.value_tier and {condition}
        order by name
        """,
        [add_months(month, -1), month, *params],
    )
    names = list(DRIVERS)
    if frame.empty:
        return frame.assign(moved_driver=pd.Series(dtype=str), moved_by=pd.Series(dtype=float))[
            ["name", "from_tier", "to_tier", "moved_driver", "moved_by", "contribution_12m_change", "customer_id"]
        ]
    moved = frame[names].abs().astype(float).idxmax(axis=1)
    frame["moved_driver"] = [DRIVERS[name][0] for name in moved]
    frame["moved_by"] = [float(frame.loc[index, name]) for index, name in moved.items()]
    return frame[["name", "from_tier", "to_tier", "moved_driver", "moved_by", "contribution_12m_change", "customer_id"]]


def value_actions(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    """`advisor_value_actions` of `month` for the customers in scope (an advisor's own)."""
    if scope.everyone:
        raise ValueError("action lists are for an advisor's own book only")
    columns = ["name", "value_tier", "profile", "action", "reason", "customer_id"]
    if not has_table(con, "marts", "advisor_value_actions"):
        return pd.DataFrame(columns=columns)
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select c.firstname || ' ' || c.surname as name, a.value_tier, a.profile, a.action, a.reason,
               cast(a.customer_id as varchar) as customer_id
        from marts.advisor_value_actions a
        join marts.dim_customer c on cast(c.customer_id as varchar) = cast(a.customer_id as varchar)
        where a.month_start = ? and {condition}
        order by a.action, name
        """,
        [month, *params],
    )


def action_counts(con, month: dt.date) -> pd.DataFrame:
    """How many actions of each kind in `month`, bank-wide (a count, no customer)."""
    if not has_table(con, "marts", "advisor_value_actions"):
        return pd.DataFrame(columns=["action", "customers"])
    return _frame(
        con,
        "select action, count(*) as customers from marts.advisor_value_actions where month_start = ? "
        "group by action order by action",
        [month],
    )


# -- one customer -----------------------------------------------------------------------------------


def customer_drivers(con, customer_id: str, month: dt.date, scope: CustomerScope) -> list[Part]:
    """The contribution of one customer (in scope) in `month`, by driver: sums to it exactly."""
    return breakdown(con, Figure(month, "contribution"), "driver", _one(customer_id, scope))


def customer_value_row(con, customer_id: str, month: dt.date, scope: CustomerScope) -> dict | None:
    sql, params = _population(Figure(month, "contribution"), _one(customer_id, scope))
    cursor = con.execute(sql, params)
    row = cursor.fetchone()
    return dict(zip([column[0] for column in cursor.description], row, strict=True)) if row else None


def _one(customer_id: str, scope: CustomerScope) -> CustomerScope:
    """`scope` narrowed to one customer: still nobody outside it."""
    if scope.everyone:
        raise ValueError("one customer's figures are for their advisor only")
    if scope.customer_id is not None:
        if scope.customer_id != customer_id:
            return CustomerScope(customer_id="\0nobody")
        return scope
    return _CustomerOfAdvisor(customer_id=customer_id, advisor_id=scope.advisor_id)


@dataclass(frozen=True)
class _CustomerOfAdvisor(CustomerScope):
    """One customer, if they are the advisor's."""

    def sql(self, customer_column: str = "customer_id", advisor_column: str = "advisor_id") -> tuple[str, list]:
        return (
            f"cast({customer_column} as varchar) = ? and cast({advisor_column} as varchar) = ?",
            [self.customer_id, self.advisor_id],
        )


def driver_evidence(
    con, customer_id: str, month: dt.date, driver: str, scope: CustomerScope
) -> dict[str, pd.DataFrame]:
    """What one customer's driver is made of in `month`, by kind of source row:

    - deposit_margin / overdraft_interest: the month-end closing balances of their accounts
      (fct_monthly_statement), positive / negative;
    - loan_margin, investment_fees: their loans / investments active in the month (dim_product);
    - card_income: their cards active in the month (dim_product) and their card payments
      (fct_statement_line, category card_payment, debits);
    - cost_to_serve: their accounts, every statement line of the month, the cash withdrawals.
    """
    if driver not in DRIVERS:
        raise ValueError(f"unknown driver {driver!r}")
    condition, params = _one(customer_id, scope).sql("c.customer_id", "c.advisor_id")
    first, last = month, add_months(month, 1) - dt.timedelta(days=1)
    balances = f"""
        select s.account_id, a.account_type, s.closing_balance
        from marts.fct_monthly_statement s
        join marts.dim_account a on cast(a.account_id as varchar) = cast(s.account_id as varchar)
        join marts.dim_customer c on cast(c.customer_id as varchar) = cast(s.customer_id as varchar)
        where s.month_start = ? and {condition}
    """

    def products(product_type: str) -> pd.DataFrame:
        return _frame(
            con,
            f"""
            select p.product_id, p.product_type, p.amount, p.start_date, p.end_date
            from marts.dim_product p
            join marts.dim_customer c on cast(c.customer_id as varchar) = cast(p.customer_id as varchar)
            where p.product_type = ? and p.start_date <= ? and (p.end_date is null or p.end_date >= ?)
              and {condition}
            order by p.start_date, p.product_id
            """,
            [product_type, last, first, *params],
        )

    def lines(where: str) -> pd.DataFrame:
        return _frame(
            con,
            f"""
            select l.booked_at, l.transaction_date, l.description, l.category, l.direction, l.amount,
                   cast(l.account_id as varchar) as account_id, cast(l.transaction_id as varchar) as transaction_id
            from marts.fct_statement_line l
            join marts.dim_account a on cast(a.account_id as varchar) = cast(l.account_id as varchar)
            join marts.dim_customer c on cast(c.customer_id as varchar) = cast(a.customer_id as varchar)
            where l.month_start = ? and {where} and {condition}
            order by l.booked_at, l.transaction_id, l.direction
            """,
            [month, *params],
        )

    if driver == "deposit_margin":
        return {"Month-end balances in credit": _frame(con, balances + " and s.closing_balance > 0", [month, *params])}
    if driver == "overdraft_interest":
        return {"Month-end balances overdrawn": _frame(con, balances + " and s.closing_balance < 0", [month, *params])}
    if driver == "loan_margin":
        return {"Loans outstanding": products("loan")}
    if driver == "investment_fees":
        return {"Investments held": products("investment")}
    if driver == "card_income":
        return {
            "Cards (monthly fee)": products("credit_card"),
            "Card payments (interchange)": lines("l.category = 'card_payment' and l.direction = 'debit'"),
        }
    return {
        "Accounts": _frame(con, balances, [month, *params]),
        "Statement lines": lines("true"),
        "Cash withdrawals": lines("l.category = 'withdrawal' and l.direction = 'debit'"),
    }


# -- the policy's gate --------------------------------------------------------------------------------


def authorize_drill(
    principal: Principal,
    month: dt.date,
    what: str,
    by: str,
    *,
    advisor_id: str | None = None,
    customer_id: str | None = None,
    customer_advisor_id: str | None = None,
    channel: str = "dashboard",
    settings: Settings,
) -> Decision:
    """Decide one drill (a figure opened by `by`: a breakdown's dimension, or `statement_lines` for
    one customer's driver) with the access policy and write it to the access log, allowed or denied.
    The page calls this before it reads anything of the drill; `customer_advisor_id` is the
    customer's advisor as the marts record it (queries.customer_advisor). A log row that cannot be
    written raises: no record, no data."""
    decision = decide(
        principal,
        Action.DRILL_CUSTOMER_VALUE,
        customer_id=customer_id,
        customer_advisor_id=customer_advisor_id,
        advisor_id=advisor_id,
        by=by,
    )
    detail = f"{what} by {by}" if decision else f"{decision.reason}: {what} by {by}"
    access_log.record(
        principal,
        Action.DRILL_CUSTOMER_VALUE,
        "allowed" if decision else "denied",
        channel=channel,
        customer_id=customer_id,
        month_start=month,
        detail=detail,
        settings=settings,
    )
    return decision
