"""Which months must be (re)built after an ingestion.

A balance carries into every later month, so a change dated in month M (a pending transaction
completed late, a corrected balance, a loan or card starting) affects M and every month after it.
Before ingesting we note each raw table's high-water mark (max updated_at); afterwards the rows
above it tell the earliest month they touch.
"""

import datetime as dt

from finefinance_platform.source.tables import SOURCE_TABLES

# The business date that places a changed row in a month; customers: their profile change counts
# from the month it happened (updated_at), a new customer from their sign-up month.
_AFFECTED_MONTH_SQL = {
    "customer": "least(cast(signup_date as date), cast(updated_at as date))",
    "transaction": "cast(transaction_date as date)",
    "balance": "cast(balance_date as date)",
    "account": "cast(open_date as date)",
    "loan": "cast(start_date as date)",
    "investment": "cast(opened_at as date)",
    "credit_card": "cast(start_date as date)",
}


def high_water_marks(con) -> dict[str, object]:
    """max(updated_at) per raw table (None when the table does not exist yet)."""
    existing = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    marks = {}
    for table in SOURCE_TABLES:
        marks[table.name] = (
            con.execute(f"select max(updated_at) from raw.{table.name}").fetchone()[0]
            if table.name in existing
            else None
        )
    return marks


def earliest_changed_month(con, marks: dict[str, object]) -> dt.date | None:
    """The first month touched by rows that arrived above the marks (None: nothing changed)."""
    earliest = None
    for table, expression in _AFFECTED_MONTH_SQL.items():
        mark = marks.get(table)
        if mark is None:
            continue  # a table loaded for the first time: every month is built anyway
        row = con.execute(
            f"select min({expression}) from raw.{table} where updated_at > ?", [mark]
        ).fetchone()
        if row and row[0] is not None:
            month = row[0].replace(day=1)
            earliest = month if earliest is None else min(earliest, month)
    return earliest
