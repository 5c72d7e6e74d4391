"""The check of a month's issued statements against the marts (the `statement_issues` asset check)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from finefinance_platform.statements.issuing.content import content_sha256, statement_sha256
from finefinance_platform.statements.issuing.table import TABLE, has_issues_table
from finefinance_platform.statements.marts import load_month_statements


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
