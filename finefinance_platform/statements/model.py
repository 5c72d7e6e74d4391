"""The monthly account statement: what it holds (`Statement`, its accounts and lines, the issued
version it is), its errors, and how its amounts and months are written.

`marts.py` builds it from the marts, `issuing/` records and reads its issued versions, `render.py`
and `pdf.py` turn it into files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import add_months, current_month

CENTS = Decimal("0.01")

ACCOUNT_TYPE_LABELS = {
    "normal": "Current account",
    "LA": "Livret A savings account",
    "LJ": "Livret Jeune savings account",
}
# current accounts first, then savings, as banks print them
ACCOUNT_TYPE_ORDER = {"normal": 0, "LA": 1, "LJ": 2}


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
