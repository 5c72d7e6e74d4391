"""Shared fixtures: one real embedded PostgreSQL for the session, a fresh database per need.

The whole session runs under a temporary FINEFINANCE_HOME, so tests never touch a developer's
`.finefinance/` (their source, warehouse or Dagster home).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="finefinance-test-"))
os.environ["FINEFINANCE_HOME"] = str(_SESSION_HOME)
os.environ.pop("FINEFINANCE_SOURCE_URL", None)
os.environ.pop("FINEFINANCE_DUCKDB_PATH", None)
os.environ.pop("FINEFINANCE_WAREHOUSE", None)
os.environ.pop("FINEFINANCE_INGESTION", None)

# The monthly partitions are fixed when the definitions are imported: the session's XS data sets
# cover the six completed months before the current one, and the partitions start with them.
from finefinance_platform.settings import add_months, current_month  # noqa: E402

XS_FIRST_MONTH = add_months(current_month(), -6)
XS_MONTHS = 6
os.environ["FINEFINANCE_FIRST_MONTH"] = XS_FIRST_MONTH.isoformat()[:7]

from finefinance_platform.settings import SOURCE_DATABASE, get_settings  # noqa: E402
from finefinance_platform.source.embedded_postgres import EmbeddedPostgres  # noqa: E402
from finefinance_platform.source.migrations import apply_migrations  # noqa: E402


@pytest.fixture(scope="session")
def embedded_postgres():
    """The session's real PostgreSQL 16 (pgserver binaries, TCP on 127.0.0.1)."""
    server = EmbeddedPostgres(get_settings())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_source_db(embedded_postgres):
    """Factory: a new, migrated, empty source database; returns its owner DSN."""
    settings = get_settings()

    def make(prefix: str = "src") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with closing(psycopg2.connect(settings.source_url(database="postgres"))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"create database {name}")
        dsn = settings.source_url(database=name)
        apply_migrations(dsn, settings.source_reader_password)
        return dsn

    return make


@pytest.fixture()
def source_dsn(make_source_db) -> str:
    return make_source_db()


@pytest.fixture(scope="session")
def default_source_dsn(embedded_postgres) -> str:
    """The embedded server's own `finefinance` database (what the CLI and Dagster use)."""
    return get_settings().source_url(database=SOURCE_DATABASE)
