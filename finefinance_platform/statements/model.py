"""Monthly account statements: load from the marts, render to PDF and CSV.

Loading turns `fct_monthly_statement` + `fct_statement_line` (+ `dim_customer`, `dim_account`) into a
`Statement`; rendering is pure (a `Statement` in, bytes out), so the same code serves the CLI, the
bulk export, the Dagster asset, the HTTP service and the dashboard download button. What people
receive is an issued version of a statement (issues.py), loaded from its stored content; loading
from the marts is what issuing reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from finefinance_platform.delivery.serving import dialect
from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import add_months, current_month

FORMATS = ("pdf", "csv")
CENTS = Decimal("0.01")

ACCOUNT_TYPE_LABELS = {
    "normal": "Current account",
    "LA": "Livret A savings account",
    "LJ": "Livret Jeune savings account",
}
# current accounts first, then savings, as banks print them
_ACCOUNT_TYPE_ORDER = {"normal": 0, "LA": 1, "LJ": 2}

CSV_COLUMNS = (
    "account_id",
    "month",
    "transaction_id",
    "date",
    "booking_date",
    "description",
    "category",
    "direction",
    "amount",
    "running_balance",
    "currency",
)


class StatementError(FineFinanceError):
    """A statement cannot be produced; the message says which customer/month and why."""


class UnknownCustomerError(StatementError):
    pass


class NoStatementError(StatementError):
    pass


class MonthNotClosedError(StatementError):
    pass


class StatementIntegrityError(StatementError):
    """The marts disagree with themselves: a bank must not send a statement that does not add up."""


class NotIssuedError(NoStatementError):
    """The marts have the statement, but it was never issued (no row in delivery.statement_issues)."""


# -- model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    transaction_id: str
    transaction_date: dt.datetime  # when the customer made it (UTC)
    booked_at: dt.datetime  # when the bank booked it (UTC): this decides the statement's month
    description: str
    category: str
    direction: str  # credit | debit
    amount: Decimal
    running_balance: Decimal

    @property
    def credit(self) -> Decimal | None:
        return self.amount if self.direction == "credit" else None

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.direction == "debit" else None


@dataclass(frozen=True)
class AccountStatement:
    account_id: str
    account_type: str
    currency: str
    opening_balance: Decimal
    total_credits: Decimal
    total_debits: Decimal
    closing_balance: Decimal
    transaction_count: int
    lines: tuple[StatementLine, ...]

    @property
    def label(self) -> str:
        return ACCOUNT_TYPE_LABELS.get(self.account_type, self.account_type)


@dataclass(frozen=True)
class Issue:
    """Which issued version a statement is (delivery.statement_issues): printed on its face.

    Only what never changes once issued belongs here, so a version renders the same bytes forever.
    """

    version: int
    issued_at: dt.datetime  # UTC
    content_sha256: str
    replaces_version: int | None = None
    replaces_issued_at: dt.datetime | None = None  # when the version it corrects was issued

    @property
    def is_correction(self) -> bool:
        return self.replaces_version is not None


@dataclass(frozen=True)
class Statement:
    customer_id: str
    firstname: str
    surname: str
    month: dt.date
    accounts: tuple[AccountStatement, ...]
    issue: Issue | None = None  # None: read from the marts, not (yet) an issued version

    @property
    def customer_name(self) -> str:
        return f"{self.firstname} {self.surname}".strip()

    @property
    def period_end(self) -> dt.date:
        return add_months(self.month, 1) - dt.timedelta(days=1)

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")


# -- helpers ----------------------------------------------------------------------------------------


def money(value) -> Decimal:
    """Any numeric from the warehouse (DECIMAL, or DOUBLE on some adapters) -> Decimal in cents."""
    if type(value) is Decimal:  # DECIMAL columns, the usual case: first, as it runs for every amount
        return value.quantize(CENTS)
    if value is None:
        return Decimal("0.00")
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(CENTS)


def format_amount(value: Decimal | None) -> str:
    """1234.5 -> '1,234.50'; None -> '' (an empty credit or debit cell)."""
    if value is None:
        return ""
    return f"{money(value):,.2f}"


def format_eur(value: Decimal, currency: str = "EUR") -> str:
    return f"{format_amount(value)} {currency}"


def ensure_closed_month(month: dt.date, today: dt.date | None = None) -> None:
    """Statements exist for completed months only: the current month still changes."""
    if month >= current_month(today):
        raise MonthNotClosedError(
            f"month {month:%Y-%m} is not closed yet: statements exist for completed months only "
            f"(the latest is {add_months(current_month(today), -1):%Y-%m})"
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file next to `path`, then rename: a reader sees the old or new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        # mkstemp's 0600 is kept: a statement is customer data, for the platform's user only
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# -- loading ----------------------------------------------------------------------------------------

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
        sort_key = (_ACCOUNT_TYPE_ORDER.get(account_type, 9), open_date or dt.date.min, account_id)
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


# -- rendering --------------------------------------------------------------------------------------


def render_csv(statement: Statement) -> bytes:
    """One row per statement line, every account of the customer, with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for account in statement.accounts:
        for line in account.lines:
            writer.writerow(
                (
                    account.account_id,
                    statement.month_label,
                    line.transaction_id,
                    line.transaction_date.date().isoformat(),
                    line.booked_at.date().isoformat(),
                    line.description,
                    line.category,
                    line.direction,
                    f"{line.amount:.2f}",
                    f"{line.running_balance:.2f}",
                    account.currency,
                )
            )
    return buffer.getvalue().encode("utf-8")


def render(statement: Statement, fmt: str, generated_on: dt.date | None = None) -> bytes:
    """The file of `statement`; an issued version always renders to the same bytes (dated when issued)."""
    if fmt == "pdf":
        from finefinance_platform.delivery.pdf import render_pdf  # fpdf2 only when a PDF is asked for

        return render_pdf(statement, generated_on=generated_on)
    if fmt == "csv":
        return render_csv(statement)
    raise StatementError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
