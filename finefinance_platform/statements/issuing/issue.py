"""Issuing a closed month: version 1 of each statement never issued, version N+1 of each whose
content changed, nothing for the others, in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from finefinance_platform.serving.marts import dialect
from finefinance_platform.statements.issuing.changes import compare, total_closing
from finefinance_platform.statements.issuing.content import canonical_content, content_sha256
from finefinance_platform.statements.issuing.issued import load_issued_statement
from finefinance_platform.statements.issuing.table import TABLE, arrow_schema, ensure_issues_table
from finefinance_platform.statements.marts import load_month_statements


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
        import pyarrow as pa  # here: the code location loads this module and never issues

        # one Arrow table: thousands of rows in one statement
        con.register("new_statement_issues", pa.Table.from_pylist(rows, schema=arrow_schema()))
        try:
            con.execute(f"insert into {TABLE} by name select * from new_statement_issues")
        finally:
            con.unregister("new_statement_issues")
        return
    # Snowflake: one array-bound insert (the connector sends the rows as one statement). Decimals,
    # dates and timestamps go as text, which Snowflake casts to the column's type: the connector
    # types each bound column from its values, and a column of NULLs and numbers gets no one type.
    columns = arrow_schema().names
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


def count_corrections(counts: Iterable[IssueCounts]) -> dict[str, int]:
    """{'YYYY-MM': corrections} for the months that had some."""
    return {f"{c.month:%Y-%m}": c.corrections for c in counts if c.corrections}
