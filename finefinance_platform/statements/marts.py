"""Statements read from the marts: `fct_monthly_statement` + `fct_statement_line` (+ `dim_customer`,
`dim_account`) become `Statement`s, their arithmetic checked before anything is printed or issued.
What people receive is an issued version (issuing/), loaded from its stored content; reading the
marts is what issuing does.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from finefinance_platform.months import current_month
from finefinance_platform.serving.marts import dialect
from finefinance_platform.statements.model import (
    ACCOUNT_TYPE_ORDER,
    AccountStatement,
    NoStatementError,
    Statement,
    StatementIntegrityError,
    StatementLine,
    UnknownCustomerError,
    ensure_closed_month,
    money,
)

# One query shape for one customer and for a whole month; ids compared as text so the marts may
# store them as UUID or VARCHAR.
_HEADER_SQL = """
select cast(s.customer_id as varchar), cast(s.account_id as varchar), a.account_type,
       coalesce(a.currency, 'EUR'), a.open_date,
       s.opening_balance, s.total_credits, s.total_debits, s.closing_balance, s.transaction_count
from marts.fct_monthly_statement s
join marts.dim_account a on a.account_id = s.account_id
where s.month_start = ? {customer_filter}
"""

_LINES_SQL = """
select cast(l.account_id as varchar), cast(l.transaction_id as varchar),
       cast(l.transaction_date as timestamp), cast(l.booked_at as timestamp), l.description, l.category,
       l.direction, l.amount, l.running_balance
from marts.fct_statement_line l
{customer_join}
where l.month_start = ? {customer_filter}
-- booking order, as the running balance accumulates (docs/business-definitions.md#booking-month)
order by l.account_id, l.booked_at, l.transaction_id
"""

_CUSTOMER_SQL = """
select cast(customer_id as varchar), firstname, surname from marts.dim_customer {customer_filter}
"""


def _utc(con) -> None:
    # transaction_date and booked_at may be TIMESTAMPTZ: cast to TIMESTAMP they must be UTC
    # (docs/business-definitions.md#months). A Snowflake session is opened in UTC already.
    if dialect(con) == "duckdb":
        con.execute("set TimeZone = 'UTC'")


def load_statement(con, customer_id: str, month: dt.date, today: dt.date | None = None) -> Statement:
    """One customer's statement for one closed month; clear errors for everything else."""
    ensure_closed_month(month, today)
    _utc(con)
    customers = con.execute(
        _CUSTOMER_SQL.format(customer_filter="where cast(customer_id as varchar) = ?"), [customer_id]
    ).fetchall()
    if not customers:
        raise UnknownCustomerError(f"unknown customer {customer_id!r}: not in marts.dim_customer")
    headers = con.execute(
        _HEADER_SQL.format(customer_filter="and cast(s.customer_id as varchar) = ?"), [month, customer_id]
    ).fetchall()
    if not headers:
        raise NoStatementError(
            f"no statement for customer {customer_id} in {month:%Y-%m}: "
            "no account of theirs has a row in marts.fct_monthly_statement for that month"
        )
    lines = con.execute(
        _LINES_SQL.format(
            customer_join="join marts.dim_account a on a.account_id = l.account_id",
            customer_filter="and cast(a.customer_id as varchar) = ?",
        ),
        [month, customer_id],
    ).fetchall()
    return _assemble(customers, headers, lines, month)[0]


def load_month_statements(con, month: dt.date, today: dt.date | None = None) -> list[Statement]:
    """Every customer's statement for one closed month, in three queries (not three per customer)."""
    ensure_closed_month(month, today)
    _utc(con)
    headers = con.execute(_HEADER_SQL.format(customer_filter=""), [month]).fetchall()
    lines = con.execute(_LINES_SQL.format(customer_join="", customer_filter=""), [month]).fetchall()
    customers = con.execute(
        _CUSTOMER_SQL.format(
            customer_filter="where customer_id in (select customer_id from marts.fct_monthly_statement "
            "where month_start = ?)"
        ),
        [month],
    ).fetchall()
    return _assemble(customers, headers, lines, month)


def statement_months(con, customer_id: str, today: dt.date | None = None) -> list[dict]:
    """The closed months a customer has a statement for, newest first, with their accounts."""
    # grouped here rather than with list()/array_agg, whose SQL and results differ between warehouses
    rows = con.execute(
        """
        select month_start, cast(account_id as varchar)
        from marts.fct_monthly_statement
        where cast(customer_id as varchar) = ? and month_start < ?
        order by month_start desc, 2
        """,
        [customer_id, current_month(today)],
    ).fetchall()
    accounts_by_month: dict[dt.date, list[str]] = {}
    for month, account_id in rows:
        accounts_by_month.setdefault(month, []).append(account_id)
    return [{"month": month.strftime("%Y-%m"), "accounts": accounts} for month, accounts in accounts_by_month.items()]


def _assemble(customers: Iterable, headers: Iterable, lines: Iterable, month: dt.date) -> list[Statement]:
    lines_by_account: dict[str, list[StatementLine]] = defaultdict(list)
    for account_id, txn_id, txn_date, booked_at, description, category, direction, amount, running in lines:
        lines_by_account[account_id].append(
            StatementLine(
                transaction_id=txn_id,
                transaction_date=txn_date,
                booked_at=booked_at,
                description=description or "",
                category=category or "",
                direction=direction,
                amount=money(amount),
                running_balance=money(running),
            )
        )
    accounts_by_customer: dict[str, list[tuple]] = defaultdict(list)
    for customer_id, account_id, account_type, currency, open_date, *numbers in headers:
        opening, credits, debits, closing, count = numbers
        account = AccountStatement(
            account_id=account_id,
            account_type=account_type,
            currency=currency,
            opening_balance=money(opening),
            total_credits=money(credits),
            total_debits=money(debits),
            closing_balance=money(closing),
            transaction_count=int(count or 0),
            lines=tuple(lines_by_account.get(account_id, ())),
        )
        check_account(account, month)
        sort_key = (ACCOUNT_TYPE_ORDER.get(account_type, 9), open_date or dt.date.min, account_id)
        accounts_by_customer[customer_id].append((sort_key, account))

    names = {customer_id: (first or "", last or "") for customer_id, first, last in customers}
    statements = []
    for customer_id in sorted(accounts_by_customer):
        if customer_id not in names:
            raise StatementIntegrityError(
                f"customer {customer_id} has statements in {month:%Y-%m} but no row in marts.dim_customer"
            )
        firstname, surname = names[customer_id]
        accounts = tuple(account for _, account in sorted(accounts_by_customer[customer_id]))
        statements.append(Statement(customer_id, firstname, surname, month, accounts))
    return statements


def check_account(account: AccountStatement, month: dt.date) -> None:
    """The statement arithmetic (docs/business-definitions.md#opening-and-closing-balance), checked
    before anything is printed or issued."""
    where = f"account {account.account_id} in {month:%Y-%m}"
    credits = sum((line.amount for line in account.lines if line.direction == "credit"), Decimal("0.00"))
    debits = sum((line.amount for line in account.lines if line.direction == "debit"), Decimal("0.00"))
    problems = []
    if account.opening_balance + account.total_credits - account.total_debits != account.closing_balance:
        problems.append(
            f"opening {account.opening_balance} + credits {account.total_credits} - debits "
            f"{account.total_debits} != closing {account.closing_balance}"
        )
    if (credits, debits) != (account.total_credits, account.total_debits):
        problems.append(
            f"lines sum to credits {credits} / debits {debits}, the statement says "
            f"{account.total_credits} / {account.total_debits}"
        )
    if len(account.lines) != account.transaction_count:
        problems.append(f"{len(account.lines)} lines but transaction_count {account.transaction_count}")
    if account.lines and account.lines[-1].running_balance != account.closing_balance:
        problems.append(
            f"last running balance {account.lines[-1].running_balance} != closing {account.closing_balance}"
        )
    bad_direction = {line.direction for line in account.lines} - {"credit", "debit"}
    if bad_direction:
        problems.append(f"unknown direction(s) {sorted(bad_direction)}")
    if problems:
        raise StatementIntegrityError(f"statement of {where} does not add up: " + "; ".join(problems))
