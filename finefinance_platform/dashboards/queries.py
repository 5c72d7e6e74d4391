"""What the dashboards show, as plain functions of a marts connection (no Streamlit here).

Each returns a pandas DataFrame (money as float: it is for charts and tables, the statements
themselves keep Decimal). Parameterized SQL only. Every query of customer-level rows takes the
reader's `CustomerScope` (access/policy.py) and adds its condition: a page cannot forget it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from finefinance_platform.access.policy import CustomerScope
from finefinance_platform.months import current_month
from finefinance_platform.serving.marts import has_table


def _frame(con, sql: str, params: list | None = None) -> pd.DataFrame:
    frame = con.execute(sql, params or []).df()
    for column in frame.columns:
        # DECIMAL columns arrive as float64 already; object columns of Decimal would not chart
        if frame[column].dtype == object and len(frame) and isinstance(frame[column].iloc[0], Decimal):
            frame[column] = frame[column].astype(float)
    return frame


def closed_months(con, today: dt.date | None = None) -> list[dt.date]:
    """Months with customer data, newest first, the current (open) month left out."""
    rows = con.execute(
        "select distinct month_start from marts.fct_customer_month where month_start < ? order by 1 desc",
        [current_month(today)],
    ).fetchall()
    return [month for (month,) in rows]


def customers(con, scope: CustomerScope) -> pd.DataFrame:
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select cast(c.customer_id as varchar) as customer_id,
               c.firstname || ' ' || c.surname as name, c.profile, c.signup_date,
               cast(c.advisor_id as varchar) as advisor_id
        from marts.dim_customer c
        where {condition}
        order by c.surname, c.firstname, c.customer_id
        """,
        params,
    )


def customer_advisor(con, customer_id: str) -> str | None:
    """The advisor of a customer (what the policy decides on); None for an unknown customer."""
    row = con.execute(
        "select cast(advisor_id as varchar) from marts.dim_customer where cast(customer_id as varchar) = ?",
        [customer_id],
    ).fetchone()
    return row[0] if row else None


def risk_table(con, month: dt.date, scope: CustomerScope) -> pd.DataFrame:
    """The score for `month` of every customer in `scope`, riskiest first, with the points of each rule
    and their inputs: the rows of marts.customer_risk_score (docs/business-definitions.md#risk-score)."""
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select cast(r.customer_id as varchar) as customer_id, c.firstname || ' ' || c.surname as name,
               c.profile, cast(c.advisor_id as varchar) as advisor_id,
               r.months_observed, r.months_in_red, r.lowest_balance, r.inflows, r.outflows, r.loans_outstanding,
               r.score, r.band, r.red_points, r.overdraft_points, r.spending_points, r.debt_points
        from marts.customer_risk_score r
        join marts.dim_customer c on c.customer_id = r.customer_id
        where r.month_start = ? and {condition}
        order by r.score desc, name, r.customer_id
        """,
        [month, *params],
    )


def risk_distribution(con, month: dt.date) -> pd.DataFrame:
    """Every customer's score and band for `month`, and nothing that names or identifies a customer."""
    return _frame(
        con,
        "select score, band from marts.customer_risk_score where month_start = ? order by score desc",
        [month],
    )


def advisor_portfolios(con, month: dt.date, advisor_id: str | None = None) -> pd.DataFrame:
    """Per advisor (or only `advisor_id`), in `month`: customers, money held, loans, investments,
    size of the action lists. Totals only: no customer appears."""
    return _frame(
        con,
        """
        with book as (
            select c.advisor_id, count(*) as customers,
                   sum(m.month_end_balance) as money_held,
                   sum(m.loans_outstanding) as loans_outstanding,
                   sum(m.investments_held) as investments_held
            from marts.fct_customer_month m
            join marts.dim_customer c on c.customer_id = m.customer_id
            where m.month_start = ?
            group by c.advisor_id
        ),
        upgrades as (
            select advisor_id, count(*) as upgrade_candidates
            from marts.advisor_upgrade_candidates where month_start = ? group by advisor_id
        ),
        support as (
            select advisor_id, count(*) as budget_support
            from marts.advisor_budget_support where month_start = ? group by advisor_id
        )
        select cast(a.advisor_id as varchar) as advisor_id, a.firstname || ' ' || a.surname as advisor, a.city,
               coalesce(b.customers, 0) as customers,
               coalesce(b.money_held, 0) as money_held,
               coalesce(b.loans_outstanding, 0) as loans_outstanding,
               coalesce(b.investments_held, 0) as investments_held,
               coalesce(u.upgrade_candidates, 0) as upgrade_candidates,
               coalesce(s.budget_support, 0) as budget_support
        from marts.dim_advisor a
        left join book b on b.advisor_id = a.advisor_id
        left join upgrades u on u.advisor_id = a.advisor_id
        left join support s on s.advisor_id = a.advisor_id
        where cast(? as varchar) is null or cast(a.advisor_id as varchar) = ?
        order by a.surname, a.firstname, a.advisor_id
        """,
        [month, month, month, advisor_id, advisor_id],
    )


def upgrade_candidates(con, month: dt.date, advisor_id: str) -> pd.DataFrame:
    return _frame(
        con,
        """
        select c.firstname || ' ' || c.surname as name, c.profile, u.high_withdrawals_months,
               u.high_loans_months, u.high_investments_months, cast(u.customer_id as varchar) as customer_id
        from marts.advisor_upgrade_candidates u
        join marts.dim_customer c on c.customer_id = u.customer_id
        where u.month_start = ? and cast(u.advisor_id as varchar) = ?
        order by greatest(u.high_withdrawals_months, u.high_loans_months, u.high_investments_months) desc, name
        """,
        [month, advisor_id],
    )


def budget_support(con, month: dt.date, advisor_id: str) -> pd.DataFrame:
    return _frame(
        con,
        """
        select c.firstname || ' ' || c.surname as name, c.profile, b.month_end_balance, b.months_in_red,
               cast(b.customer_id as varchar) as customer_id
        from marts.advisor_budget_support b
        join marts.dim_customer c on c.customer_id = b.customer_id
        where b.month_start = ? and cast(b.advisor_id as varchar) = ?
        order by b.months_in_red desc, b.month_end_balance, name
        """,
        [month, advisor_id],
    )


def kpi_growth(con) -> pd.DataFrame:
    return _frame(
        con,
        """
        select month_start, revenue, interest_income, card_fee_income, transaction_count, transaction_amount,
               new_customers, revenue_growth_pct, transaction_count_growth_pct, new_customers_growth_pct
        from marts.kpi_monthly_growth where month_start < ? order by month_start
        """,
        [current_month()],
    )


def customers_per_profile(con) -> pd.DataFrame:
    return _frame(
        con,
        "select month_start, profile, customer_count from marts.kpi_customers_per_profile "
        "where month_start < ? order by month_start, profile",
        [current_month()],
    )


def transactions_per_category(con) -> pd.DataFrame:
    return _frame(
        con,
        "select month_start, category, transaction_count, transaction_amount "
        "from marts.kpi_transactions_per_month where month_start < ? order by month_start, category",
        [current_month()],
    )


def customer_statement_months(con, customer_id: str) -> list[dict]:
    from finefinance_platform.statements.marts import statement_months

    return statement_months(con, customer_id)


def statement_versions(con, customer_id: str, month: dt.date) -> list:
    """The issued versions of a customer's statement of a month, oldest first (delivery.statement_issues)."""
    from finefinance_platform.statements.issuing.issued import issued_versions

    return issued_versions(con, customer_id, month)


# -- Today (the intraday marts, refreshed by the live cycle) ---------------------------------------


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def todays_activity(con, today: dt.date | None = None) -> pd.DataFrame:
    """Per category: bookings so far today (UTC) and the average of the same weekday over the weeks
    the mart keeps (days with no booking count as zero). Empty before the first live cycle."""
    today = today or utc_today()
    columns = ["category", "transactions", "usual_transactions", "amount", "usual_amount", "as_of"]
    if not has_table(con, "marts", "intraday_activity"):
        return pd.DataFrame(columns=columns)
    return _frame(
        con,
        """
        with days as (
            select count(distinct activity_date) as weeks
            from marts.intraday_activity
            where activity_date < ? and dayofweek(activity_date) = dayofweek(cast(? as date))
        )
        select
            category,
            cast(sum(case when activity_date = ? then transaction_count else 0 end) as bigint) as transactions,
            coalesce(sum(case when activity_date < ? then transaction_count end)
                / nullif((select weeks from days), 0), 0) as usual_transactions,
            sum(case when activity_date = ? then transaction_amount else 0 end) as amount,
            coalesce(sum(case when activity_date < ? then transaction_amount end)
                / nullif((select weeks from days), 0), 0) as usual_amount,
            max(as_of) as as_of
        from marts.intraday_activity
        where activity_date = ?
            or (activity_date < ? and dayofweek(activity_date) = dayofweek(cast(? as date)))
        group by category
        order by transactions desc, category
        """,
        [today, today, today, today, today, today, today, today, today],
    )


def todays_alerts(con, scope: CustomerScope, today: dt.date | None = None) -> pd.DataFrame:
    """The alerts booked or detected today (UTC), of the customers in `scope`, newest first. The
    customer's advisor is the one in dim_customer now, as for every other customer-level read."""
    today = today or utc_today()
    columns = ["detected_at", "customer", "customer_id", "kind", "amount", "balance_after", "booked_at"]
    if not has_table(con, "marts", "intraday_alerts"):
        return pd.DataFrame(columns=columns)
    condition, params = scope.sql("c.customer_id", "c.advisor_id")
    return _frame(
        con,
        f"""
        select a.detected_at, c.firstname || ' ' || c.surname as customer,
               cast(a.customer_id as varchar) as customer_id, a.kind, a.amount, a.balance_after, a.booked_at
        from marts.intraday_alerts a
        join marts.dim_customer c on cast(c.customer_id as varchar) = cast(a.customer_id as varchar)
        where (cast(a.booked_at as date) = ? or cast(a.detected_at as date) = ?) and {condition}
        order by a.detected_at desc, a.booked_at desc, a.alert_id
        """,
        [today, today, *params],
    )


def todays_alert_counts(con, today: dt.date | None = None) -> pd.DataFrame:
    """How many alerts of each kind today, bank-wide (a count, no customer)."""
    today = today or utc_today()
    if not has_table(con, "marts", "intraday_alerts"):
        return pd.DataFrame(columns=["kind", "alerts"])
    return _frame(
        con,
        "select kind, count(*) as alerts from marts.intraday_alerts "
        "where cast(booked_at as date) = ? or cast(detected_at as date) = ? group by kind order by kind",
        [today, today],
    )
