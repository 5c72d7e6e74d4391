"""Issued statements are records: the table `delivery.statement_issues`
(docs/business-definitions.md#issued-statements-are-records).

When a closed month is issued, each customer's statement becomes version 1, stored with its
canonical content (the lines and totals of every account, as JSON) and the SHA-256 of that content.
A later rebuild of the marts that changes a statement issues version 2 (3, ...) beside it, with the
reason and what changed; a rebuild that changes nothing issues nothing. Issuing reads the marts
only: whether PDF or CSV files are rendered at that moment does not matter.

Every channel serves issued versions (the latest by default), rebuilt from the stored content, so an
old version stays downloadable after the marts changed and renders to the same bytes every time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from finefinance_platform.delivery.serving import dialect, has_table
from finefinance_platform.delivery.statement import (
    AccountStatement,
    Issue,
    NoStatementError,
    NotIssuedError,
    Statement,
    StatementIntegrityError,
    StatementLine,
    UnknownCustomerError,
    ensure_closed_month,
    format_eur,
    load_month_statements,
    money,
)
from finefinance_platform.months import current_month

TABLE = "delivery.statement_issues"

ISSUES_DDL = f"""
create schema if not exists delivery;
create table if not exists {TABLE} (
    customer_id varchar not null,
    month_start date not null,
    version integer not null,            -- 1, 2, ... per customer and month
    issued_at timestamp not null,        -- UTC
    content_sha256 varchar not null,     -- SHA-256 of `content`
    reason varchar,                      -- NULL for version 1
    replaces_version integer,            -- NULL for version 1
    firstname varchar,                   -- the name printed on this version
    surname varchar,
    content varchar not null,            -- canonical content: lines and totals of every account (JSON)
    lines_added integer,                 -- against the version replaced (NULL for version 1)
    lines_removed integer,
    lines_changed integer,
    closing_before decimal(18, 2),       -- the customer's closing balance (all accounts) in the version replaced
    closing_after decimal(18, 2),        -- ... and in this version
    primary key (customer_id, month_start, version)
)
"""

_ARROW_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("month_start", pa.date32()),
        ("version", pa.int32()),
        ("issued_at", pa.timestamp("us")),
        ("content_sha256", pa.string()),
        ("reason", pa.string()),
        ("replaces_version", pa.int32()),
        ("firstname", pa.string()),
        ("surname", pa.string()),
        ("content", pa.string()),
        ("lines_added", pa.int32()),
        ("lines_removed", pa.int32()),
        ("lines_changed", pa.int32()),
        ("closing_before", pa.decimal128(18, 2)),
        ("closing_after", pa.decimal128(18, 2)),
    ]
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


@dataclass(frozen=True)
class IssueCounts:
    """What one `issue_month` did."""

    month: dt.date
    first_issues: int = 0
    corrections: int = 0
    unchanged: int = 0
    vanished: int = 0  # issued before, no longer in the marts: nothing to issue, the check reports it
    # customer -> SHA-256 of the content the marts give now: what the check compares the table with
    marts_sha256: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def issued(self) -> int:
        return self.first_issues + self.corrections


# -- canonical content ------------------------------------------------------------------------------


def _timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z: '2026-10-02T06:00:00Z' (naive values are UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.removesuffix("Z"))


def _amount(value: Decimal) -> str:
    # a Decimal formats to 2 places with the rounding `money` uses; anything else goes through it
    return f"{value:.2f}" if type(value) is Decimal else f"{money(value):.2f}"


def canonical_content(statement: Statement) -> str:
    """The statement's lines and totals, as deterministic JSON: sorted keys, no spaces, amounts as
    2-decimal strings, timestamps ISO UTC. The customer's name is not in it (a name change is not a
    change of the statement); neither is anything about rendering (fonts, dates of generation)."""
    document = {
        "customer_id": statement.customer_id,
        "month": statement.month.isoformat(),
        "accounts": [
            {
                "account_id": account.account_id,
                "account_type": account.account_type,
                "currency": account.currency,
                "opening_balance": _amount(account.opening_balance),
                "total_credits": _amount(account.total_credits),
                "total_debits": _amount(account.total_debits),
                "closing_balance": _amount(account.closing_balance),
                "transaction_count": account.transaction_count,
                "lines": [
                    {
                        "transaction_id": line.transaction_id,
                        "transaction_date": _timestamp(line.transaction_date),
                        "booked_at": _timestamp(line.booked_at),
                        "description": line.description,
                        "category": line.category,
                        "direction": line.direction,
                        "amount": _amount(line.amount),
                        "running_balance": _amount(line.running_balance),
                    }
                    for line in account.lines
                ],
            }
            for account in statement.accounts
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def statement_sha256(statement: Statement) -> str:
    return content_sha256(canonical_content(statement))


def statement_from_content(content: str, firstname: str, surname: str, issue: Issue | None = None) -> Statement:
    """The `Statement` a canonical content describes (the inverse of `canonical_content`)."""
    document = json.loads(content)
    accounts = tuple(
        AccountStatement(
            account_id=account["account_id"],
            account_type=account["account_type"],
            currency=account["currency"],
            opening_balance=Decimal(account["opening_balance"]),
            total_credits=Decimal(account["total_credits"]),
            total_debits=Decimal(account["total_debits"]),
            closing_balance=Decimal(account["closing_balance"]),
            transaction_count=account["transaction_count"],
            lines=tuple(
                StatementLine(
                    transaction_id=line["transaction_id"],
                    transaction_date=_parse_timestamp(line["transaction_date"]),
                    booked_at=_parse_timestamp(line["booked_at"]),
                    description=line["description"],
                    category=line["category"],
                    direction=line["direction"],
                    amount=Decimal(line["amount"]),
                    running_balance=Decimal(line["running_balance"]),
                )
                for line in account["lines"]
            ),
        )
        for account in document["accounts"]
    )
    month = dt.date.fromisoformat(document["month"])
    return Statement(document["customer_id"], firstname or "", surname or "", month, accounts, issue)


# -- what changed between two versions --------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    lines_added: int
    lines_removed: int
    lines_changed: int
    closing_before: Decimal
    closing_after: Decimal
    details: tuple[str, ...]


def total_closing(statement: Statement) -> Decimal:
    return sum((account.closing_balance for account in statement.accounts), Decimal("0.00"))


def _lines(statement: Statement) -> dict[tuple, tuple]:
    """(account, transaction, direction) -> what the line says (not its running balance: one changed
    amount moves every later running balance, which is not a change of those lines)."""
    return {
        (account.account_id, line.transaction_id, line.direction): (
            line.transaction_date,
            line.booked_at,
            line.description,
            line.category,
            line.amount,
        )
        for account in statement.accounts
        for line in account.lines
    }


def compare(old: Statement, new: Statement) -> Changes:
    """What changed from the issued `old` to `new`, counted and said in words."""
    old_lines, new_lines = _lines(old), _lines(new)
    added = len(new_lines.keys() - old_lines.keys())
    removed = len(old_lines.keys() - new_lines.keys())
    changed = sum(1 for key in old_lines.keys() & new_lines.keys() if old_lines[key] != new_lines[key])
    details = []
    if added or removed or changed:
        details.append(f"{added} line(s) added, {removed} removed, {changed} changed")
    old_accounts = {account.account_id: account for account in old.accounts}
    new_accounts = {account.account_id: account for account in new.accounts}
    for account_id in sorted(old_accounts.keys() - new_accounts.keys()):
        details.append(f"account ...{account_id[-6:]} no longer on the statement")
    for account in new.accounts:
        before = old_accounts.get(account.account_id)
        name = f"{account.label} ...{account.account_id[-6:]}"
        if before is None:
            details.append(f"{name} added")
            continue
        if before.opening_balance != account.opening_balance:
            details.append(
                f"opening balance of {name} {format_eur(before.opening_balance, account.currency)} -> "
                f"{format_eur(account.opening_balance, account.currency)} (an earlier month changed)"
            )
        if before.closing_balance != account.closing_balance:
            details.append(
                f"closing balance of {name} {format_eur(before.closing_balance, account.currency)} -> "
                f"{format_eur(account.closing_balance, account.currency)}"
            )
    return Changes(
        added, removed, changed, total_closing(old), total_closing(new), tuple(details) or ("content changed",)
    )


# -- the table --------------------------------------------------------------------------------------


def has_issues_table(con) -> bool:
    """Whether the database behind `con` (the warehouse or the serving copy) has the table."""
    return has_table(con, "delivery", "statement_issues")


def ensure_issues_table(con) -> None:
    if dialect(con) == "duckdb":
        con.execute(ISSUES_DDL)
    else:
        # on Snowflake the schema is the setup's (sql/snowflake/010_database.sql), with its grants
        con.execute(ISSUES_DDL.split(";", 1)[1])


def _utc_naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def issue_month(
    con,
    month: dt.date,
    now: dt.datetime | None = None,
    cause: str | None = None,
    today: dt.date | None = None,
) -> IssueCounts:
    """Issue the statements of one closed month: version 1 of each statement never issued, version
    N+1 of each whose content differs from its latest version N, nothing for the others.

    One transaction: the month is issued whole or not at all. Calling it again issues nothing.
    `cause` (e.g. the run that rebuilt the marts) goes into the reason of a correction.
    """
    now = _utc_naive(now or dt.datetime.now(dt.UTC))
    ensure_issues_table(con)
    con.begin()
    try:
        statements = load_month_statements(con, month, today)
        latest = {
            customer_id: (version, sha)
            for customer_id, version, sha in con.execute(
                f"select cast(customer_id as varchar), version, content_sha256 from {TABLE} where month_start = ? "
                "qualify row_number() over (partition by customer_id order by version desc) = 1",
                [month],
            ).fetchall()
        }
        rows, first_issues, corrections, unchanged = [], 0, 0, 0
        marts_sha256 = {}
        for statement in statements:
            content = canonical_content(statement)
            sha = marts_sha256[statement.customer_id] = content_sha256(content)
            row = {
                "customer_id": statement.customer_id,
                "month_start": month,
                "issued_at": now,
                "content_sha256": sha,
                "firstname": statement.firstname,
                "surname": statement.surname,
                "content": content,
                "closing_after": total_closing(statement),
            }
            previous = latest.pop(statement.customer_id, None)
            if previous is None:
                rows.append({**row, "version": 1})
                first_issues += 1
                continue
            previous_version, previous_sha = previous
            if previous_sha == sha:
                unchanged += 1
                continue
            issued = load_issued_statement(con, statement.customer_id, month, previous_version, today)
            changes = compare(issued, statement)
            because = f"correction after a rebuild of the marts{f' ({cause})' if cause else ''}"
            rows.append(
                {
                    **row,
                    "version": previous_version + 1,
                    "replaces_version": previous_version,
                    "reason": f"{because}: " + "; ".join(changes.details),
                    "lines_added": changes.lines_added,
                    "lines_removed": changes.lines_removed,
                    "lines_changed": changes.lines_changed,
                    "closing_before": changes.closing_before,
                }
            )
            corrections += 1
        if rows:
            _insert_issues(con, rows)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return IssueCounts(month, first_issues, corrections, unchanged, vanished=len(latest), marts_sha256=marts_sha256)


def _insert_issues(con, rows: list[dict]) -> None:
    if dialect(con) == "duckdb":
        # one Arrow table: thousands of rows in one statement
        con.register("new_statement_issues", pa.Table.from_pylist(rows, schema=_ARROW_SCHEMA))
        try:
            con.execute(f"insert into {TABLE} by name select * from new_statement_issues")
        finally:
            con.unregister("new_statement_issues")
        return
    # Snowflake: one array-bound insert (the connector sends the rows as one statement). Decimals,
    # dates and timestamps go as text, which Snowflake casts to the column's type: the connector
    # types each bound column from its values, and a column of NULLs and numbers gets no one type.
    columns = _ARROW_SCHEMA.names
    con.executemany(
        f"insert into {TABLE} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
        [[_as_bound_text(row.get(column)) for column in columns] for row in rows],
    )


def _as_bound_text(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# -- reading issued versions ------------------------------------------------------------------------

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


# -- the asset check --------------------------------------------------------------------------------


def issue_problems(
    con,
    month: dt.date,
    today: dt.date | None = None,
    limit: int = 50,
    marts_sha256: Mapping[str, str] | None = None,
) -> tuple[int, list[str]]:
    """(how many problems, the first `limit` in words) of a month's issued statements:

    - a stored content whose SHA-256 is not its recorded one (the table was altered);
    - a statement of the marts whose latest issued version has another content (the marts changed
      and no newer version was issued), or that was never issued;
    - an issued statement the marts no longer have.

    `marts_sha256` is what `issue_month` just computed from the same marts (`IssueCounts.marts_sha256`):
    given, the statements are not built a second time; the table is read back and checked all the same.
    """
    if marts_sha256 is None:
        marts_sha256 = {
            statement.customer_id: statement_sha256(statement) for statement in load_month_statements(con, month, today)
        }
    current = marts_sha256
    rows = []
    if has_issues_table(con):
        rows = con.execute(
            f"select cast(customer_id as varchar), version, content_sha256, content from {TABLE} "
            "where month_start = ? order by customer_id, version",
            [month],
        ).fetchall()
    problems: list[str] = []
    latest: dict[str, tuple[int, str]] = {}
    for customer_id, version, recorded, content in rows:
        if content_sha256(content) != recorded:
            problems.append(
                f"customer {customer_id} {month:%Y-%m} version {version}: stored content does not match its "
                "recorded SHA-256"
            )
        latest[customer_id] = (version, recorded)
    for customer_id, sha in current.items():
        if customer_id not in latest:
            problems.append(f"customer {customer_id} {month:%Y-%m}: never issued")
        elif latest[customer_id][1] != sha:
            problems.append(
                f"customer {customer_id} {month:%Y-%m}: the marts changed since version {latest[customer_id][0]} "
                "was issued, and no newer version was issued"
            )
    for customer_id in sorted(latest.keys() - current.keys()):
        problems.append(
            f"customer {customer_id} {month:%Y-%m}: version {latest[customer_id][0]} was issued but the marts "
            "no longer have this statement"
        )
    return len(problems), problems[:limit]


def issued_months(con, today: dt.date | None = None) -> list[dt.date]:
    """The closed months with issued statements, oldest first."""
    if not has_issues_table(con):
        return []
    rows = con.execute(
        f"select distinct month_start from {TABLE} where month_start < ? order by 1", [current_month(today)]
    ).fetchall()
    return [month for (month,) in rows]


def count_corrections(counts: Iterable[IssueCounts]) -> dict[str, int]:
    """{'YYYY-MM': corrections} for the months that had some."""
    return {f"{c.month:%Y-%m}": c.corrections for c in counts if c.corrections}
