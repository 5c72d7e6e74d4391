"""The production warehouse for the platform's own Python: checks, alerts, the CLI and the readers.

`WarehouseResource` (finefinance_platform/warehouse.py) and the alert audit trail
(orchestration/alerts.py) call these when FINEFINANCE_WAREHOUSE=snowflake. They connect as the
transformation identity (key pair, its role and warehouse), like dbt. The readers of the marts
(`serving.marts.open_marts`) connect as the reporting identity through `SnowflakeSession`.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from decimal import Decimal
from typing import Any

import pandas as pd

from finefinance_platform.production.snowflake_setup import connection_parameters
from finefinance_platform.settings import Settings


def connect_snowflake(settings: Settings) -> Any:
    """A Snowflake connector connection (pyformat parameters: `%s`) in the platform's database."""
    import snowflake.connector

    return snowflake.connector.connect(**connection_parameters(settings, "transform"))


def write_audit_alerts(settings: Settings, table_ddl: str, rows: list[dict]) -> None:
    """Append `rows` (dicts, one key per column) to audit.alerts, creating the table with
    `table_ddl` (orchestration/alerts.py) on first use. The schema is created by
    sql/snowflake/010_database.sql, where the transformation role may create tables (030_grants.sql)."""
    if not rows:
        return
    columns = list(rows[0])
    with closing(connect_snowflake(settings)) as connection:
        cursor = connection.cursor()
        cursor.execute(table_ddl)
        cursor.executemany(
            f"insert into audit.alerts ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
            [[row[column] for column in columns] for row in rows],
        )


class SnowflakeSession:
    """The few methods of a DuckDB connection the statements and the readers call, on a Snowflake connection.

    The statement, dashboard and issue code was written against DuckDB's `con.execute(sql, params)`
    (then `fetchone` / `fetchall` / `df`) with `?` parameters; this gives it the same calls on
    Snowflake instead of a second copy of every query. Parameters are bound by the server (qmark),
    never pasted into the SQL. Result columns come back lower-cased and `df()` types them as DuckDB
    does (DATE as datetime64, NUMBER with a scale as float), so a page shows the same frame on both.
    """

    dialect = "snowflake"

    def __init__(self, connection: Any):
        self.connection = connection
        self._cursor = None

    def execute(self, sql: str, params: list | tuple | None = None) -> SnowflakeSession:
        cursor = self.connection.cursor()
        cursor.execute(sql, list(params) if params else None)
        self._cursor = cursor
        return self

    def executemany(self, sql: str, rows: list) -> SnowflakeSession:
        cursor = self.connection.cursor()
        cursor.executemany(sql, rows)
        self._cursor = cursor
        return self

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self) -> list:
        return self._cursor.fetchall()

    @property
    def description(self):
        return self._cursor.description

    def df(self) -> pd.DataFrame:
        columns = [column[0].lower() for column in self._cursor.description]
        frame = pd.DataFrame.from_records(self._cursor.fetchall(), columns=columns)
        for column in frame.columns:
            values = frame[column].dropna()
            if values.empty:
                continue
            first = values.iloc[0]
            if isinstance(first, Decimal):
                frame[column] = frame[column].astype(float)
            elif isinstance(first, dt.date) and not isinstance(first, dt.datetime):
                frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        return frame

    def begin(self) -> None:
        self.connection.cursor().execute("begin")

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> SnowflakeSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_session(settings: Settings, identity: str) -> SnowflakeSession:
    """A `SnowflakeSession` as `identity` (`reporting` for readers, `transform` for the pipeline).

    The session runs in UTC, as the DuckDB readers do (`set TimeZone = 'UTC'`): timestamps cast to
    TIMESTAMP are UTC (docs/business-definitions.md#months).
    """
    import snowflake.connector

    connection = snowflake.connector.connect(
        **connection_parameters(settings, identity), paramstyle="qmark", session_parameters={"TIMEZONE": "UTC"}
    )
    return SnowflakeSession(connection)
