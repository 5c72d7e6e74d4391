"""`audit.access_log`: one row per display or download of customer data, and per refusal.

Readers may not write the warehouse (the DuckDB file has one writer, the pipeline, and readers use
a read-only serving copy), so locally the log is its own SQLite file,
`<FINEFINANCE_HOME>/audit/access_log.sqlite`, table `access_log`: SQLite lets the dashboards, the
statement service and the CLI append at once (WAL: a reader of the log never blocks a writer), and
attached as `audit` it answers `select * from audit.access_log` (`finefinance access-log` prints it).

With FINEFINANCE_WAREHOUSE=snowflake the log is the warehouse's table `audit.access_log` (created
by `finefinance snowflake setup`, sql/snowflake/010_database.sql): the readers append to it as the
reporting identity, which may insert there and nowhere else; `finefinance access-log` reads it as
the transformation identity. Each process writes it through one session, opened on first use and
shared under a lock (a session per row let a flood of requests open thousands), reopened once when
a write on it fails.

A row that cannot be written fails the access it records: no record, no data.

The log can be neither forged nor flooded (issue 22):
- Every text a caller may pass on from an attacker (detail, subject, client, ids) is stored
  printable and bounded (`printable`, `LIMITS`): a control character (newline, CR, tab, NUL, the ESC
  of an ANSI sequence, Unicode line separators, bidi and zero-width marks) is stored as its escape
  (`\\n`, `\\x1b`, `\\u202e`), and a longer text is cut with `…`. A row cannot fake another line
  or column of `finefinance access-log`.
- A refusal of nobody signed in (anonymous, outcome `denied`) is counted rather than written row by
  row. Per process, the first refusal of a kind from a client in a UTC minute is written as any row
  (`count` 1); the others of that kind, client and minute are counted in memory and written as one
  row (`detail` "counted: <category>", `count` how many, `accessed_at` the last one's time) once
  the minute is over: at the first record after it, at process exit (atexit), or when
  `MAX_TALLIES` kinds are held (all are written then: memory stays bounded). The number of
  refusals is the sum of `count`.
- The kind is the action and the refusal's category: the detail's text before its first colon (cut
  at `CATEGORY_LIMIT` characters). Callers put a fixed phrase there and any text an attacker chose
  after it ("invalid token: <what the token library said>"). A client gets at most
  `MAX_KINDS_PER_CLIENT` kinds a minute, the rest are counted as kind "other": whatever text a
  caller lets through, one client writes a bounded number of rows a minute.
- Signed-in people's rows, allowed or denied, are always written one by one: they are the audit trail.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import logging
import os
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from finefinance_platform.access.policy import Action, Principal
from finefinance_platform.settings import Settings

logger = logging.getLogger(__name__)

LOG_FILE = Path("audit") / "access_log.sqlite"
COLUMNS = (
    "accessed_at", "subject", "role", "action", "customer_id", "month_start", "outcome", "channel", "detail",
    "client", "count",
)  # fmt: skip
# the most characters a field keeps, whoever chose its text
LIMITS = {"subject": 200, "role": 50, "action": 64, "customer_id": 100, "channel": 32, "detail": 300, "client": 100}
CATEGORY_LIMIT = 40
MAX_KINDS_PER_CLIENT = 16
MAX_TALLIES = 10_000
COUNTED = "counted: "  # the detail of a row that counts anonymous refusals

_DDL = """
create table if not exists access_log (
    accessed_at text not null,   -- ISO 8601, UTC
    subject text,                -- as the identity provider names them; NULL when nobody signed in
    role text,
    action text not null,
    customer_id text,            -- when customer data was touched (or asked for)
    month_start text,            -- YYYY-MM-DD, when a month was asked for
    outcome text not null check (outcome in ('allowed', 'denied')),
    channel text not null,       -- dashboard | http | cli
    detail text,                 -- why a refusal was made, or what was read
    client text,                 -- the caller's network address, when there is one (http)
    count integer not null default 1  -- accesses the row stands for (more than 1: counted refusals)
)
"""
# columns that files written before them lack (their rows stand for one access each)
_ADDED_COLUMNS = {
    "client": "alter table access_log add column client text",
    "count": "alter table access_log add column count integer not null default 1",
}


@dataclass(frozen=True)
class AccessRecord:
    accessed_at: str
    subject: str | None
    role: str | None
    action: str
    customer_id: str | None
    month_start: str | None
    outcome: str
    channel: str
    detail: str | None
    client: str | None = None
    count: int = 1


def log_path(settings: Settings) -> Path:
    return settings.home / LOG_FILE


_UNPRINTABLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, format marks (bidi, zero-width), surrogates, separators


def printable(value: object, limit: int | None = None) -> str | None:
    """`value` as text that prints on one line as itself: unprintable characters escaped, at most
    `limit` characters (cut with `…`)."""
    if value is None:
        return None
    text = str(value)
    whole = text
    if limit is not None:
        text = text[:limit]  # bound the work before escaping: a detail may be megabytes
    text = "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _UNPRINTABLE else char
        for char in text
    )
    if limit is not None and (len(whole) > limit or len(text) > limit):
        text = text[: limit - 1] + "…"
    return text


def _now() -> dt.datetime:
    """The time of a row (tests replace it to cross a minute without waiting)."""
    return dt.datetime.now(dt.UTC)


@contextmanager
def _connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10)) as con:
        con.execute("pragma journal_mode=wal")
        con.execute(_DDL)
        present = {row[1] for row in con.execute("pragma table_info(access_log)")}
        for column, ddl in _ADDED_COLUMNS.items():
            if column not in present:
                try:
                    con.execute(ddl)
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # else another process added it first
                        raise
        yield con


def record(
    principal: Principal,
    action: Action | str,
    outcome: str,
    *,
    channel: str,
    customer_id: str | None = None,
    month_start: dt.date | None = None,
    detail: str | None = None,
    client: str | None = None,
    settings: Settings,
) -> None:
    """Append one row, or count an anonymous refusal (see above). `client` is the caller's network
    address where there is one (HTTP)."""
    if outcome not in ("allowed", "denied"):
        raise ValueError(f"outcome must be allowed or denied, not {outcome!r}")
    now = _now()
    row = AccessRecord(
        now.isoformat(timespec="milliseconds"),
        printable(principal.subject, LIMITS["subject"]),
        printable(principal.role, LIMITS["role"]) if principal.role else None,
        printable(action, LIMITS["action"]),
        printable(customer_id, LIMITS["customer_id"]),
        month_start.isoformat() if month_start else None,
        outcome,
        printable(channel, LIMITS["channel"]),
        printable(detail, LIMITS["detail"]),
        printable(client, LIMITS["client"]),
    )
    if principal.subject is None and outcome == "denied":
        _tally.refused(settings, row, now)
    else:
        _tally.write_due(now)
        _write(settings, row)


def flush() -> None:
    """Write every count of anonymous refusals still held (at exit, and for tests)."""
    _tally.write_all()


def _write(settings: Settings, row: AccessRecord) -> None:
    values = dataclasses.astuple(row)
    if settings.warehouse == "snowflake":
        _snowflake.insert(settings, values)
        return
    with _connect(settings) as con, con:
        con.execute(f"insert into access_log ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})", values)


def _destination(settings: Settings) -> tuple:
    """Which log a row goes to: counts and sessions are kept apart per log."""
    if settings.warehouse == "snowflake":
        sf = settings.snowflake
        return ("snowflake", sf.account, sf.host, sf.port, sf.database, sf.reporting_user)
    return ("sqlite", str(log_path(settings)))


def _category(detail: str | None) -> str:
    return (detail or "").split(":", 1)[0][:CATEGORY_LIMIT]


@dataclass
class _Held:
    """The refusals of one kind, client and minute after the first (which is written)."""

    settings: Settings
    first: AccessRecord
    category: str
    count: int = 0
    last_at: str = ""


class _Tally:
    """The anonymous refusals counted, not yet written, in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (destination, client, minute, channel, action, category) -> what is held
        self.held: dict[tuple, _Held] = {}
        self.kinds: Counter = Counter()  # (destination, client, minute) -> kinds held
        self.minute: dt.datetime | None = None
        self.exit_registered = False

    def refused(self, settings: Settings, row: AccessRecord, now: dt.datetime) -> None:
        minute = now.replace(second=0, microsecond=0)
        client_minute = (_destination(settings), row.client, minute)
        category = _category(row.detail)
        with self.lock:
            self._write_before(minute)
            key = (*client_minute, row.channel, row.action, category)
            if key not in self.held and self.kinds[client_minute] >= MAX_KINDS_PER_CLIENT:
                category = "other"
                key = (*client_minute, row.channel, row.action, category)
            held = self.held.get(key)
            if held is not None:
                held.count += 1
                held.last_at = row.accessed_at
                return
            if len(self.held) >= MAX_TALLIES:
                self._write_held(list(self.held))
                self.kinds.clear()
            # the first of its kind is written under the lock: if it cannot be, the access fails
            # and nothing is held for it
            _write(settings, row)
            self.held[key] = _Held(settings, row, category)
            self.kinds[client_minute] += 1
            if not self.exit_registered:
                # registered after the first write, hence after the Snowflake connector's own exit
                # handlers: atexit runs this one first, while a session can still be used
                atexit.register(_at_exit)
                self.exit_registered = True

    def write_due(self, now: dt.datetime) -> None:
        with self.lock:
            self._write_before(now.replace(second=0, microsecond=0))

    def write_all(self) -> None:
        with self.lock:
            self._write_held(list(self.held))
            self.kinds.clear()

    def _write_before(self, minute: dt.datetime) -> None:
        """Write the counts of the minutes before `minute` (once a minute: the scan is skipped within one)."""
        if self.minute == minute:
            return
        self.minute = minute
        self._write_held([key for key in self.held if key[2] < minute])
        for client_minute in [key for key in self.kinds if key[2] < minute]:
            del self.kinds[client_minute]

    def _write_held(self, keys: list[tuple]) -> None:
        for key in keys:
            held = self.held.pop(key)
            if not held.count:
                continue
            row = dataclasses.replace(
                held.first,
                accessed_at=held.last_at,
                customer_id=None,
                month_start=None,
                detail=f"{COUNTED}{held.category}",
                count=held.count,
            )
            try:
                _write(held.settings, row)
            except Exception:
                # those refusals were answered already, and their kind's first row is in the log;
                # failing the access of whoever comes next would not bring the count back
                logger.exception("access log: %d anonymous refusals could not be written: %s", held.count, row)


class _SnowflakeSessions:
    """One reporting session per process (and Snowflake log), shared by every row under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[tuple, object] = {}
        self.pid = os.getpid()

    def insert(self, settings: Settings, values: tuple) -> None:
        from finefinance_platform.production.snowflake import open_session

        accessed_at, *rest = values
        # TIMESTAMP_NTZ in UTC there; the text form is the SQLite file's
        values = [dt.datetime.fromisoformat(accessed_at).replace(tzinfo=None), *rest]
        sql = f"insert into audit.access_log ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"
        key = _destination(settings)
        with self.lock:
            if self.pid != os.getpid():  # a forked child must not write on its parent's connection
                self.sessions, self.pid = {}, os.getpid()
            for attempt in (1, 2):
                session = self.sessions.get(key)
                if session is None:
                    session = self.sessions[key] = open_session(settings, "reporting")
                try:
                    session.execute(sql, values)
                    return
                except Exception:
                    # an expired or dropped session: a new one, once. The row may then be written
                    # twice (the first try may have landed): a duplicate is better than a lost row
                    del self.sessions[key]
                    with suppress(Exception):
                        session.close()
                    if attempt == 2:
                        raise

    def close(self) -> None:
        with self.lock:
            for session in self.sessions.values():
                with suppress(Exception):
                    session.close()
            self.sessions.clear()


_tally = _Tally()
_snowflake = _SnowflakeSessions()


def _at_exit() -> None:
    try:
        flush()
    finally:
        _snowflake.close()


def read(settings: Settings, limit: int | None = None) -> list[AccessRecord]:
    """The log, newest first."""
    if settings.warehouse == "snowflake":
        return _read_from_snowflake(settings, limit)
    if not log_path(settings).exists():
        return []
    with _connect(settings) as con:
        sql = f"select {', '.join(COLUMNS)} from access_log order by accessed_at desc, rowid desc"
        rows = con.execute(sql + (" limit ?" if limit else ""), [limit] if limit else []).fetchall()
    return [AccessRecord(*row) for row in rows]


def _read_from_snowflake(settings: Settings, limit: int | None) -> list[AccessRecord]:
    from finefinance_platform.production.snowflake import open_session

    # rows from before the column stand for one access each
    columns = ", ".join("coalesce(count, 1)" if column == "count" else column for column in COLUMNS)
    sql = f"select {columns} from audit.access_log order by accessed_at desc"
    with open_session(settings, "transform") as session:
        rows = session.execute(sql + (" limit ?" if limit else ""), [limit] if limit else None).fetchall()
    return [
        AccessRecord(
            accessed_at.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds"),
            subject,
            role,
            action,
            customer_id,
            month_start.isoformat() if month_start else None,
            outcome,
            channel,
            detail,
            client,
            int(count),
        )
        for (
            accessed_at,
            subject,
            role,
            action,
            customer_id,
            month_start,
            outcome,
            channel,
            detail,
            client,
            count,
        ) in rows
    ]
