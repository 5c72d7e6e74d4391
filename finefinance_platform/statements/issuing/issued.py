"""Reading issued versions: the records of a customer's versions, and the statements they were,
rebuilt from their stored content (its SHA-256 checked) with clear errors when there is none."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from finefinance_platform.months import current_month
from finefinance_platform.statements.issuing.content import content_sha256, statement_from_content
from finefinance_platform.statements.issuing.table import TABLE, has_issues_table
from finefinance_platform.statements.model import (
    Issue,
    NoStatementError,
    NotIssuedError,
    Statement,
    StatementIntegrityError,
    UnknownCustomerError,
    ensure_closed_month,
    money,
)


@dataclass(frozen=True)
class IssueRecord:
    """One row of delivery.statement_issues, without its content."""

    customer_id: str
    month: dt.date
    version: int
    issued_at: dt.datetime
    content_sha256: str
    reason: str | None
    replaces_version: int | None
    lines_added: int | None
    lines_removed: int | None
    lines_changed: int | None
    closing_before: Decimal | None
    closing_after: Decimal | None

    def describe(self) -> str:
        return (
            f"version {self.version} of the statement of customer {self.customer_id} for {self.month:%Y-%m}, "
            f"issued on {self.issued_at.date().isoformat()}"
        )


_RECORD_COLUMNS = (
    "cast(customer_id as varchar), month_start, version, issued_at, content_sha256, reason, replaces_version, "
    "lines_added, lines_removed, lines_changed, closing_before, closing_after"
)


# the versions of a month with, for a correction, when the version it replaces was issued
_ISSUED_SQL = f"""
select cast(i.customer_id as varchar), i.version, i.issued_at, i.content_sha256, i.replaces_version,
       r.issued_at, i.firstname, i.surname, i.content
from {TABLE} i
left join {TABLE} r
  on r.customer_id = i.customer_id and r.month_start = i.month_start and r.version = i.replaces_version
where i.month_start = ? {{where}}
{{qualify}}
order by i.customer_id, i.version
"""
_LATEST_ONLY = "qualify row_number() over (partition by i.customer_id order by i.version desc) = 1"


def _issued_statement(month: dt.date, row) -> Statement:
    customer_id, version, issued_at, sha, replaces_version, replaces_issued_at, firstname, surname, content = row
    if content_sha256(content) != sha:
        raise StatementIntegrityError(
            f"version {version} of the statement of customer {customer_id} for {month:%Y-%m}: its stored "
            f"content no longer matches its recorded SHA-256 ({sha[:12]}...): {TABLE} was altered"
        )
    # only a correction replaces an issued version (the Snowflake emulator returns the NULL of the
    # outer join as 1970-01-01, so the NULL is not left to the warehouse)
    issue = Issue(version, issued_at, sha, replaces_version, replaces_issued_at if replaces_version else None)
    return statement_from_content(content, firstname, surname, issue)


def issued_versions(con, customer_id: str, month: dt.date) -> list[IssueRecord]:
    """Every issued version of a customer's statement of a month, oldest first (none: [])."""
    if not has_issues_table(con):
        return []
    rows = con.execute(
        f"select {_RECORD_COLUMNS} from {TABLE} "
        "where cast(customer_id as varchar) = ? and month_start = ? order by version",
        [customer_id, month],
    ).fetchall()
    return [_record(row) for row in rows]


def issued_versions_by_month(con, customer_id: str) -> dict[dt.date, list[IssueRecord]]:
    """Every issued version of every month of a customer, oldest version first."""
    if not has_issues_table(con):
        return {}
    versions: dict[dt.date, list[IssueRecord]] = {}
    for row in con.execute(
        f"select {_RECORD_COLUMNS} from {TABLE} where cast(customer_id as varchar) = ? order by month_start, version",
        [customer_id],
    ).fetchall():
        record = _record(row)
        versions.setdefault(record.month, []).append(record)
    return versions


def _record(row) -> IssueRecord:
    customer_id, month, version, issued_at, sha, reason, replaces, added, removed, changed, before, after = row
    return IssueRecord(
        customer_id, month, version, issued_at, sha, reason, replaces, added, removed, changed,
        None if before is None else money(before), None if after is None else money(after),
    )  # fmt: skip


def load_issued_statement(
    con, customer_id: str, month: dt.date, version: int | None = None, today: dt.date | None = None
) -> Statement:
    """An issued version of a customer's statement (the latest unless `version` is given), from its
    stored content; clear errors naming the customer, month and version otherwise."""
    ensure_closed_month(month, today)
    rows = []
    if has_issues_table(con):
        rows = con.execute(
            _ISSUED_SQL.format(where="and cast(i.customer_id as varchar) = ?", qualify=""), [month, customer_id]
        ).fetchall()
    if not rows:
        _explain_missing(con, customer_id, month)
    if version is None:
        return _issued_statement(month, rows[-1])
    for row in rows:
        if row[1] == version:
            return _issued_statement(month, row)
    raise NoStatementError(
        f"no version {version} of the statement of customer {customer_id} for {month:%Y-%m}: "
        f"versions 1 to {rows[-1][1]} were issued"
    )


def _explain_missing(con, customer_id: str, month: dt.date) -> None:
    """No issued version: say whether the customer is unknown, has no statement, or was not issued yet."""
    known = con.execute(
        "select count(*) from marts.dim_customer where cast(customer_id as varchar) = ?", [customer_id]
    ).fetchone()[0]
    if not known:
        raise UnknownCustomerError(f"unknown customer {customer_id!r}: not in marts.dim_customer")
    in_marts = con.execute(
        "select count(*) from marts.fct_monthly_statement where cast(customer_id as varchar) = ? and month_start = ?",
        [customer_id, month],
    ).fetchone()[0]
    if in_marts:
        raise NotIssuedError(
            f"the statement of customer {customer_id} for {month:%Y-%m} has not been issued yet (no row in "
            f"{TABLE}): materialize delivery/statement_issues for {month:%Y-%m}"
        )
    raise NoStatementError(
        f"no statement for customer {customer_id} in {month:%Y-%m}: "
        "no account of theirs has a row in marts.fct_monthly_statement for that month"
    )


def load_issued_month(con, month: dt.date, today: dt.date | None = None) -> list[Statement]:
    """The latest issued version of every customer's statement of a month, by customer id."""
    ensure_closed_month(month, today)
    if not has_issues_table(con):
        return []
    rows = con.execute(_ISSUED_SQL.format(where="", qualify=_LATEST_ONLY), [month]).fetchall()
    return [_issued_statement(month, row) for row in rows]


def issued_months(con, today: dt.date | None = None) -> list[dt.date]:
    """The closed months with issued statements, oldest first."""
    if not has_issues_table(con):
        return []
    rows = con.execute(
        f"select distinct month_start from {TABLE} where month_start < ? order by 1", [current_month(today)]
    ).fetchall()
    return [month for (month,) in rows]
