"""`audit.access_log`: one row per display or download of customer data, and per refusal.

Readers may not write the warehouse (the DuckDB file has one writer, the pipeline, and readers use
a read-only serving copy), so locally the log is its own SQLite file,
`<FINEFINANCE_HOME>/audit/access_log.sqlite`, table `access_log`: SQLite lets the dashboards, the
statement service and the CLI append at once (WAL: a reader of the log never blocks a writer), and
attached as `audit` it answers `select * from audit.access_log` (`finefinance access-log` prints it).

With FINEFINANCE_WAREHOUSE=snowflake the log is the warehouse's table `audit.access_log` (created
by `finefinance snowflake setup`, sql/snowflake/010_database.sql): the readers append to it as the
reporting identity, which may insert there and nowhere else; `finefinance access-log` reads it as
the transformation identity.

A row that cannot be written fails the access it records: no record, no data.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from finefinance_platform.access.policy import Action, Principal
from finefinance_platform.settings import Settings, get_settings

LOG_FILE = Path("audit") / "access_log.sqlite"
COLUMNS = (
    "accessed_at", "subject", "role", "action", "customer_id", "month_start", "outcome", "channel", "detail",
)  # fmt: skip

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
    detail text                  -- why a refusal was made, or what was read
)
"""


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


def log_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / LOG_FILE


@contextmanager
def _connect(settings: Settings | None) -> Iterator[sqlite3.Connection]:
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10)) as con:
        con.execute("pragma journal_mode=wal")
        con.execute(_DDL)
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
    settings: Settings | None = None,
) -> None:
    """Append one row. `client` is the caller's network address where there is one (HTTP)."""
    if outcome not in ("allowed", "denied"):
        raise ValueError(f"outcome must be allowed or denied, not {outcome!r}")
    row = (
        dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        principal.subject,
        str(principal.role) if principal.role else None,
        str(action),
        customer_id,
        month_start.isoformat() if month_start else None,
        outcome,
        channel,
        detail,
    )
    settings = settings or get_settings()
    if settings.warehouse == "snowflake":
        _record_in_snowflake(settings, row)
        return
    with _connect(settings) as con, con:
        con.execute(f"insert into access_log ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})", row)


def _record_in_snowflake(settings: Settings, row: tuple) -> None:
    from finefinance_platform.production.snowflake import open_session

    accessed_at, *rest = row
    # TIMESTAMP_NTZ in UTC there; the text form is the SQLite file's
    values = [dt.datetime.fromisoformat(accessed_at).replace(tzinfo=None), *rest]
    with open_session(settings, "reporting") as session:
        session.execute(
            f"insert into audit.access_log ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})", values
        )


def read(settings: Settings | None = None, limit: int | None = None) -> list[AccessRecord]:
    """The log, newest first."""
    settings = settings or get_settings()
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

    sql = f"select {', '.join(COLUMNS)} from audit.access_log order by accessed_at desc"
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
        )
        for accessed_at, subject, role, action, customer_id, month_start, outcome, channel, detail in rows
    ]
