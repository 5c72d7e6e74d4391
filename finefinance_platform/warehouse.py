"""The warehouse as a Dagster resource: DuckDB embedded, Snowflake in production.

Checks, alerts and the CLI talk to the warehouse only through `WarehouseResource`, so switching
`FINEFINANCE_WAREHOUSE` switches them all.
"""

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import ConfigurableResource, ResourceDependency

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.settings import Settings

# DuckDB admits one writing process: a second one waits for the lock rather than failing the run
LOCK_WAIT_SECONDS = 600


class WarehouseLockedError(FineFinanceError):
    pass


def connect_duckdb(settings: Settings, read_only: bool = False, wait_seconds: float = LOCK_WAIT_SECONDS):
    path = str(settings.duckdb_path)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            # the same bounded buffer pool as dbt's and ingestion's: checks over raw (latest version
            # of each key) took this process to 2.4 GB at scale M unbounded (docs/benchmarks.md)
            config = {"memory_limit": settings.duckdb_memory_limit}
            return duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                if "lock" in str(exc).lower():
                    raise WarehouseLockedError(
                        f"the warehouse {path} stayed locked by another process for {wait_seconds:.0f} s"
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class WarehouseResource(ConfigurableResource):
    """Runs SQL on the settings' warehouse; `query` returns rows as tuples.

    The settings are those the definitions loaded with (a run's process loads them from its own
    environment); the assets, checks and sensors that need other settings read them here too.
    """

    settings: ResourceDependency[Settings]

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        settings = self.settings
        if settings.warehouse == "duckdb":
            con = connect_duckdb(settings, read_only=read_only)
            try:
                yield con
            finally:
                con.close()
        else:
            from finefinance_platform.production.snowflake import connect_snowflake

            con = connect_snowflake(settings)
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def session(self, identity: str = "transform") -> Iterator[Any]:
        """A connection with DuckDB's calls (`execute(sql, [?-params])`, `fetchall`, `df`, `begin`)
        on either warehouse, for the statements' assets: a DuckDB connection on the warehouse file, or a
        `SnowflakeSession` as `identity` (`transform` writes, `reporting` only reads the marts)."""
        if self.settings.warehouse == "duckdb":
            with self.connect() as con:
                yield con
            return
        from finefinance_platform.production.snowflake import open_session

        with open_session(self.settings, identity) as session:
            yield session

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.connect() as con:
            cur = con.cursor()
            cur.execute(sql, params or [])
            return [tuple(row) for row in cur.fetchall()]

    @property
    def placeholder(self) -> str:
        """The parameter marker of `query`: DuckDB's `?`, the Snowflake connector's `%s`."""
        return "?" if self.settings.warehouse == "duckdb" else "%s"

    def table_exists(self, schema: str, table: str) -> bool:
        mark = self.placeholder
        rows = self.query(
            f"select count(*) from information_schema.tables where lower(table_schema) = lower({mark}) "
            f"and lower(table_name) = lower({mark})",
            [schema, table],
        )
        return rows[0][0] > 0
