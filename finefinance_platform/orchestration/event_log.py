"""The local instance's event log: Dagster's consolidated SQLite storage, its connection kept open.

Two choices, both measured or forced:

- **Consolidated, not run-sharded.** Dagster's default SQLite event log keeps one file per run plus
  an index, writes each asset or check event two or three times (the run's file, the index, the
  asset or check tables), and cannot answer an event query after a storage id: the daemon's
  check-failure alert sensor failed on its second tick ("a cursor that is not run-aware"). The
  consolidated storage is one file, like the PostgreSQL storage of the deployment
  (deploy/dagster.yaml).
- **Connections kept.** Both SQLite storages create an engine and a new SQLite connection for every
  write (`poolclass=NullPool`; SQLAlchemy's issue #7490 describes the cost). A monthly dbt step
  reports a result per model and per test, so that cost dominated a small warehouse's runs: 489
  asset and check events took 10.5 s, 3.5 s with the connection kept (this machine). PostgreSQL
  storage on the embedded server was slower still (a password handshake per connection: 21 s).

Only the connection handling changes: Dagster's schema, migrations and queries, so the UI, the
daemon and the command line read the same file.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sql import create_engine
from sqlalchemy.engine import Connection, Engine


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    @property
    def _engine(self) -> Engine:
        engine = self.__dict__.get("_pooled_engine")
        if engine is None:
            # SQLAlchemy pools a file database with QueuePool and lets its connections move between
            # threads; SQLite itself serializes the writers (WAL, with Dagster's busy timeout)
            engine = create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self.__dict__["_pooled_engine"] = engine
        return engine

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        engine = self.__dict__.pop("_pooled_engine", None)
        if engine is not None:
            engine.dispose()
        super().dispose()
