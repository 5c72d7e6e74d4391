"""Which months must be (re)built after an ingestion.

A balance carries into every later month, so a change whose business date falls in month M affects
M and every month after it. Before ingesting we note each raw table's high-water mark (max
updated_at); afterwards the rows above it are placed by the date each changes things from
(docs/business-definitions.md#what-can-still-change-a-closed-month), and the earliest such month is
rebuilt with the months after it. A day of ordinary activity (bookings today, a card expiring today,
a customer upgraded today) places nothing in a closed month, so it rebuilds none.

The marks are one record that the command line and the late-data sensor share (at the end of this
module): what one of them builds, the other no longer sees as stale.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from finefinance_platform.file_lock import held
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


def older_marks(kept: dict[str, object], current: dict[str, object]) -> dict[str, object]:
    """Per table, the older of two marks (None, a table not loaded yet, is the oldest): rows above
    it include everything either mark would have found."""
    older = {}
    for table in set(kept) | set(current):
        a, b = kept.get(table), current.get(table)
        older[table] = None if a is None or b is None else min(a, b)
    return older


# -- the one record of what the built months include -----------------------------------------------
#
# `finefinance run`, `finefinance live` and the late-data sensor keep one set of marks per warehouse
# in `<home>/state/pending_late_data_marks.json`: raw rows above them may touch months not rebuilt
# for them yet, so the command line and the Dagster UI never disagree on what is stale. The marks
# move up only once the months they call for are built (a failed or killed run leaves them, and its
# months stale for both), and down when a run starts from older ones (remember_marks). Each change
# is read, made and written under a lock of its own, through a temporary file renamed over the
# record: a crash leaves the old record or the new one.

# tags the run the sensor requests with its run key, so whoever reads the record next finds its end
REBUILD_TAG = "finefinance/late_data_rebuild"


@dataclass(frozen=True)
class RequestedRebuild:
    """Months the late-data sensor asked Dagster to rebuild from the marks `base`: once its run has
    succeeded, what raw held when it asked (`reached`) is built."""

    run_key: str
    start: str
    end: str
    base: dict[str, object]
    reached: dict[str, object]

    def tags(self) -> dict[str, str]:
        return {
            "dagster/asset_partition_range_start": self.start,
            "dagster/asset_partition_range_end": self.end,
            REBUILD_TAG: self.run_key,
        }


@dataclass(frozen=True)
class LateDataRecord:
    marks: dict[str, object] | None = None  # None: no marks kept for this warehouse yet
    requested: RequestedRebuild | None = None


def _marks_to_json(marks: dict[str, object]) -> dict[str, str | None]:
    return {table: None if mark is None else mark.isoformat() for table, mark in marks.items()}


def _marks_from_json(marks: dict[str, str | None]) -> dict[str, object]:
    return {table: None if mark is None else dt.datetime.fromisoformat(mark) for table, mark in marks.items()}


def _record_path(settings: Settings) -> Path:
    return settings.home / "state" / "pending_late_data_marks.json"


def _all_records(settings: Settings) -> dict[str, dict]:
    try:
        records = json.loads(_record_path(settings).read_text())
    except FileNotFoundError:
        return {}
    if any(not isinstance(entry, dict) for entry in records.values()):
        # kept before the record had one entry per warehouse: the marks of the warehouse in use
        records = {str(settings.duckdb_path): {"marks": records}}
    return records


def read_record(settings: Settings) -> LateDataRecord:
    entry = _all_records(settings).get(str(settings.duckdb_path), {})
    requested = entry.get("requested")
    return LateDataRecord(
        marks=None if entry.get("marks") is None else _marks_from_json(entry["marks"]),
        requested=None
        if requested is None
        else RequestedRebuild(
            requested["run_key"],
            requested["start"],
            requested["end"],
            _marks_from_json(requested["base"]),
            _marks_from_json(requested["reached"]),
        ),
    )


def _record_to_json(record: LateDataRecord) -> dict:
    requested = record.requested
    return {
        "marks": None if record.marks is None else _marks_to_json(record.marks),
        "requested": None
        if requested is None
        else {
            **asdict(requested),
            "base": _marks_to_json(requested.base),
            "reached": _marks_to_json(requested.reached),
        },
    }


def _change_record(settings: Settings, change: Callable[[LateDataRecord], LateDataRecord]) -> LateDataRecord:
    """Replace the warehouse's record by `change(record)`, with no other writer in between."""
    path = _record_path(settings)
    with held(path.with_name(path.name + ".lock"), "waiting for another command to update the late-data marks"):
        record = change(read_record(settings))
        records = _all_records(settings)
        records[str(settings.duckdb_path)] = _record_to_json(record)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(records))
        temporary.replace(path)  # atomic: a crash leaves the old file or the new one
    return record


def remember_marks(settings: Settings, marks: dict[str, object]) -> dict[str, object]:
    """Before an ingestion: keep the marks it starts from, or the older ones still kept (their
    months not built yet, or a run that crashed before building them). Returns the marks kept."""

    def keep_the_older(record: LateDataRecord) -> LateDataRecord:
        return replace(record, marks=marks if record.marks is None else older_marks(record.marks, marks))

    return _change_record(settings, keep_the_older).marks


def advance_marks(settings: Settings, base: dict[str, object], reached: dict[str, object]) -> None:
    """The months that rows above `base` call for are built with raw as it was at `reached`: each
    mark still at `base` moves up to `reached`. A mark someone moved meanwhile stays as they left
    it: up, by a build that saw at least as much; down, by a run starting from older marks."""

    def move_up(record: LateDataRecord) -> LateDataRecord:
        kept = dict(record.marks or {})
        for table, mark in reached.items():
            if kept.get(table) == base.get(table):
                kept[table] = mark
        return replace(record, marks=kept)

    _change_record(settings, move_up)


def request_rebuild(settings: Settings, start: str, end: str, base: dict, reached: dict) -> RequestedRebuild:
    """The sensor asks for months [start .. end]; the marks stay where they are until its run
    succeeds (settle_requested_rebuild). The nonce gives a new run key to a range asked again
    after a failed run (Dagster launches one run per key)."""
    nonce = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    rebuild = RequestedRebuild(f"late-data-{start}-{end}-{nonce}", start, end, base, reached)
    _change_record(settings, lambda record: replace(record, requested=rebuild))
    return rebuild


def requested_run(instance: DagsterInstance, rebuild: RequestedRebuild) -> DagsterRun | None:
    """The run Dagster launched for the request (None: not launched yet)."""
    runs = instance.get_runs(filters=RunsFilter(tags={REBUILD_TAG: rebuild.run_key}), limit=1)
    return runs[0] if runs else None


def settle_requested_rebuild(settings: Settings, instance: DagsterInstance) -> RequestedRebuild | None:
    """Called by the sensor at each tick and by `finefinance run` when it starts: a rebuild the
    sensor requested whose run succeeded moves the marks up (advance_marks); one whose run failed or
    was canceled is dropped, its months still stale (the marks did not move). Returns the request
    while its run has not ended (or not started)."""
    requested = read_record(settings).requested
    if requested is None:
        return None
    run = requested_run(instance, requested)
    if run is None or not run.is_finished:
        return requested
    if run.status == DagsterRunStatus.SUCCESS:
        advance_marks(settings, requested.base, requested.reached)
    _change_record(
        settings, lambda record: replace(record, requested=None) if record.requested == requested else record
    )
    return None
