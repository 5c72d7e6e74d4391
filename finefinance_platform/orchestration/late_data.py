"""Which months must be (re)built after an ingestion.

A balance carries into every later month, so a change whose business date falls in month M affects
M and every month after it. Before ingesting we note each raw table's high-water mark (max
updated_at); afterwards the rows above it are placed by the date each changes things from
(docs/business-definitions.md#what-can-still-change-a-closed-month), and the earliest such month is
rebuilt with the months after it. A day of ordinary activity (bookings today, a card expiring today,
a customer upgraded today) places nothing in a closed month, so it rebuilds none.
"""

import datetime as dt
import json
from pathlib import Path

from finefinance_platform.settings import Settings
from finefinance_platform.source.tables import SOURCE_TABLES


def _utc_date(column: str) -> str:
    return f"cast(timezone('UTC', {column}) as date)"


def _ended_or_started(end: str, start: str) -> str:
    """A row that ended (its end date is today or earlier) changes things from its end date when the
    change is its ending, written by the day after it; a later change to it is a correction of its
    terms (an amount, a fee, a start), which changes every month since it started."""
    ended = f"cast({end} as date)"
    return (
        f"cast(case when {ended} <= current_date and {_utc_date('r.updated_at')} <= {ended} + 1 "
        f"then {ended} else {start} end as date)"
    )


def _customer_changed_from() -> str:
    """A customer row changes things from the day it was written (a profile change is history: the
    months keep the profile held at their end), unless it moves the customer's sign-up: a sign-up
    date that is not the one the built months count them from (the first month they have a row in
    `marts.fct_customer_month`, or the first month built for those who signed up before it), or a
    customer no built month counts yet, changes things from the earlier of the two sign-ups."""
    written, signup = _utc_date("r.updated_at"), "cast(r.signup_date as date)"
    signup_month = f"cast(date_trunc('month', {signup}) as date)"
    return (
        f"case when counted.first_month is null then least({written}, {signup}) "
        f"when greatest({signup_month}, built.first_month) <> counted.first_month "
        f"then least({written}, {signup}, counted.first_month) else {written} end"
    )


# Per raw table, the first day each changed row (`r`, above the mark) can change a month from:
# - customer: the change itself (a profile change: the profile held at a month's end comes from the
#   snapshot history, so an upgrade today leaves closed months alone), or its sign-up when the row
#   moves it or no built month counts the customer yet (`_customer_changed_from`);
# - account and products: one that ended (closed, expired: its end date is today or earlier) by
#   this change changes things from its end date; one still running, or an ended one corrected
#   later, from its start (a new product, or a correction to one; a loan's end date is known from
#   the start, so "ended" is an end date today or earlier);
# - transaction: its booking date, and the booking date the marts hold for it, when a correction
#   moved or removed the booking (a completed transaction corrected to failed has no booked_at left).
# - balance: its date (a month-end row written, or corrected: the balance check of that month reads it).
_CHANGED_FROM_SQL = {
    "customer": _customer_changed_from(),
    "account": _ended_or_started("r.closed_date", "r.open_date"),
    "loan": _ended_or_started("r.end_date", "r.start_date"),
    "investment": _ended_or_started("r.closed_at", "r.opened_at"),
    "credit_card": _ended_or_started("r.end_date", "r.start_date"),
    "balance": "cast(r.balance_date as date)",
    "transaction": f"least({_utc_date('r.booked_at')}, cast(booked.booked_at as date))",
}
# what each placement reads of the built marts, and what it falls back to before any month is built
_JOINS = {
    "transaction": (
        "fct_transaction",
        "left join marts.fct_transaction as booked on booked.transaction_id = cast(r.transaction_id as varchar)",
        _utc_date("r.booked_at"),
    ),
    "customer": (
        "fct_customer_month",
        "left join (select customer_id, min(month_start) as first_month from marts.fct_customer_month"
        " group by customer_id) as counted on counted.customer_id = cast(r.customer_id as varchar)"
        " cross join (select min(month_start) as first_month from marts.fct_customer_month) as built",
        _utc_date("r.updated_at"),
    ),
}


def high_water_marks(con) -> dict[str, object]:
    """max(updated_at) per raw table (None when the table does not exist yet)."""
    existing = {
        row[0]
        for row in con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()
    }
    marks = {}
    for table in SOURCE_TABLES:
        marks[table.name] = (
            con.execute(f"select max(updated_at) from raw.{table.name}").fetchone()[0]
            if table.name in existing
            else None
        )
    return marks


def raw_fingerprint(con) -> dict[str, str]:
    """Per raw table, its row count and newest updated_at: what the unpartitioned models were built
    from. A row arriving with an older updated_at (out of order) still changes the count."""
    existing = {
        row[0]
        for row in con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()
    }
    fingerprint = {}
    for table in SOURCE_TABLES:
        if table.name in existing:
            count, newest = con.execute(f"select count(*), max(updated_at) from raw.{table.name}").fetchone()
            fingerprint[table.name] = f"{count} {newest.isoformat() if newest else ''}"
    return fingerprint


def staging_behind_raw(con) -> bool:
    """True when raw.transaction holds versions the staging table the month jobs read does not.

    `staging.base_transaction` (deduplicated, checked) is a table the daily refresh and the live
    cycle bring up to date right after each ingestion (incrementally), so that a month reads only
    its own rows; a month built between the two would miss the newest versions. The latest version
    of every key is staged, quarantined or not, so staging is up to date when its newest updated_at
    is raw's.
    """
    tables = {
        row[0]
        for row in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where (table_schema, table_name) in (('raw', 'transaction'), ('staging', 'base_transaction'))"
        ).fetchall()
    }
    if "raw.transaction" not in tables:
        return False
    if "staging.base_transaction" not in tables:
        return True
    raw_newest, staged_newest = con.execute(
        "select (select timezone('UTC', max(updated_at)) from raw.transaction), "
        "(select max(updated_at) from staging.base_transaction)"
    ).fetchone()
    return raw_newest is not None and (staged_newest is None or raw_newest > staged_newest)


def earliest_changed_month(con, marks: dict[str, object]) -> dt.date | None:
    """The first month touched by rows that arrived above the marks (None: nothing changed)."""
    built = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    earliest = None
    for table, expression in _CHANGED_FROM_SQL.items():
        mark = marks.get(table)
        if mark is None:
            continue  # a table loaded for the first time: every month is built anyway
        join = ""
        if table in _JOINS:
            mart, join, before_any_month = _JOINS[table]
            if mart not in built:
                expression, join = before_any_month, ""
        row = con.execute(
            f"select min({expression}) from raw.{table} as r {join} where r.updated_at > ?", [mark]
        ).fetchone()
        if row and row[0] is not None:
            month = row[0].replace(day=1)
            earliest = month if earliest is None else min(earliest, month)
    return earliest


def rebuild_range(earliest: dt.date | None, partition_keys: list[str]) -> tuple[str, str] | None:
    """The partition range to rebuild for a change dated `earliest`: from its month to the last."""
    if earliest is None or not partition_keys:
        return None
    start = max(earliest.isoformat(), partition_keys[0])
    if start > partition_keys[-1]:
        return None  # only the open month changed: it is built when it closes
    return start, partition_keys[-1]


def encode_marks(marks: dict[str, object]) -> str:
    return json.dumps({table: None if mark is None else mark.isoformat() for table, mark in marks.items()})


def decode_marks(text: str) -> dict[str, object]:
    marks = json.loads(text)
    return {table: None if mark is None else dt.datetime.fromisoformat(mark) for table, mark in marks.items()}


def older_marks(kept: dict[str, object], current: dict[str, object]) -> dict[str, object]:
    """Per table, the older of two marks (None, a table not loaded yet, is the oldest): rows above
    it include everything either mark would have found."""
    older = {}
    for table in set(kept) | set(current):
        a, b = kept.get(table), current.get(table)
        older[table] = None if a is None or b is None else min(a, b)
    return older


# -- the marks kept on disk by `finefinance run` and `finefinance live` -------------------------------


def _pending_marks_path(settings: Settings) -> Path:
    return settings.home / "state" / "pending_late_data_marks.json"


def remember_marks(settings: Settings, marks: dict) -> dict:
    """Keep the marks on disk until their months are built; after a crash, the older ones count."""
    path = _pending_marks_path(settings)
    if path.exists():
        marks = older_marks(decode_marks(path.read_text()), marks)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(encode_marks(marks))
    temporary.replace(path)  # atomic: a crash leaves the old file or the new one
    return marks


def forget_marks(settings: Settings) -> None:
    _pending_marks_path(settings).unlink(missing_ok=True)
