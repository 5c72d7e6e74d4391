"""The one way readers reach the marts over either warehouse: the serving copy (DuckDB) or a
Snowflake session as the reporting identity (see `publish.py` for why there is a copy).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.settings import Settings

SERVING_FILE = "marts.duckdb"
# The file's stem names its catalog; a catalog called `marts` would make `marts.<table>` ambiguous,
# so readers attach the file under this alias instead of opening it directly.
READER_CATALOG = "serving"
METADATA_TABLE = "serving_meta.publication"


class MartsUnavailableError(FineFinanceError):
    pass


def dialect(con) -> str:
    """`snowflake` for a Snowflake session (production.snowflake.SnowflakeSession), else `duckdb`:
    for the few statements whose SQL differs between the two."""
    return getattr(con, "dialect", "duckdb")


def has_table(con, schema: str, table: str) -> bool:
    """Whether the database behind a reader's `con` (the serving copy, the warehouse or a Snowflake
    session) has `schema.table`: Snowflake keeps unquoted names upper-case, DuckDB as written."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where upper(table_catalog) = upper(current_database()) and lower(table_schema) = ? "
            "and lower(table_name) = ?",
            [schema, table],
        ).fetchone()[0]
    )


def serving_path(settings: Settings) -> Path:
    return settings.home / "serving" / SERVING_FILE


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def open_marts(settings: Settings):
    """The one way readers (dashboards, statement service, statement CLI, export, the statement
    documents asset) reach the marts and delivery.statement_issues; use it as a context manager.

    With FINEFINANCE_WAREHOUSE=snowflake: a session on Snowflake as the reporting identity, which
    may read those tables and append to audit.access_log, nothing else (sql/snowflake/030_grants.sql).
    Snowflake has no single-writer lock, so there is no copy to publish there.

    With DuckDB: a read-only connection where `marts.<table>` is the serving copy (or, without one,
    the warehouse). Each call attaches the file afresh to a new in-memory database, so a reader
    opening after a publish sees the new copy (DuckDB caches database instances by path: opening the
    path itself could hand back the old one).
    """
    if settings.warehouse == "snowflake":
        return _open_snowflake_marts(settings)
    candidates = [serving_path(settings), settings.duckdb_path]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        raise MartsUnavailableError(
            f"no marts to read: neither the serving copy {candidates[0]} nor the warehouse {candidates[1]} "
            "exists (build them with `finefinance run`)"
        )
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_quote_path(path)} as {READER_CATALOG} (read_only)")
    except duckdb.Error as exc:
        con.close()
        raise MartsUnavailableError(
            f"cannot open {path} read-only ({exc}); if the pipeline is writing the warehouse, publish "
            "the serving copy (asset delivery/serving_copy) so readers do not need the warehouse"
        ) from exc
    con.execute(f"use {READER_CATALOG}")
    con.execute("set TimeZone = 'UTC'")
    has_marts = con.execute(
        "select count(*) from information_schema.tables where table_catalog = ? and table_schema = 'marts'",
        [READER_CATALOG],
    ).fetchone()[0]
    if not has_marts:
        con.close()
        raise MartsUnavailableError(f"{path} has no `marts` tables yet (build them with `finefinance run`)")
    return con


def _open_snowflake_marts(settings: Settings):
    from finefinance_platform.production.snowflake import open_session

    try:
        return open_session(settings, "reporting")
    except FineFinanceError:
        raise  # a setting is missing: its message names it
    except Exception as exc:  # the connector's errors say why (network, key, role)
        raise MartsUnavailableError(
            f"cannot reach the marts on Snowflake as {settings.snowflake.reporting_user} "
            f"(role {settings.snowflake.reporting_role}): {exc}"
        ) from exc


def published_at(con) -> dt.datetime | None:
    """When the serving copy behind `con` was published (None when reading a warehouse itself)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    try:
        row = con.execute(f"select published_at from {METADATA_TABLE}").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None
