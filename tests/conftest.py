"""Shared fixtures: one real embedded PostgreSQL for the session, a fresh database per need.

The whole session runs under a temporary FINEFINANCE_HOME, so tests never touch a developer's
`.finefinance/` (their source, warehouse or Dagster home).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="finefinance-test-"))
os.environ["FINEFINANCE_HOME"] = str(_SESSION_HOME)
os.environ.pop("FINEFINANCE_SOURCE_URL", None)
os.environ.pop("FINEFINANCE_DUCKDB_PATH", None)
os.environ.pop("FINEFINANCE_WAREHOUSE", None)
os.environ.pop("FINEFINANCE_INGESTION", None)

# The monthly partitions are made when the definitions load (`monthly_partitions(settings)`, once per
# process): the session's XS data sets cover the six completed months before the current one, and
# the partitions start with them.
from finefinance_platform.months import add_months, current_month  # noqa: E402

XS_FIRST_MONTH = add_months(current_month(), -6)
XS_MONTHS = 6
os.environ["FINEFINANCE_FIRST_MONTH"] = XS_FIRST_MONTH.isoformat()[:7]

# Under pytest-xdist (`make test` runs two workers) each worker is a session of its own (its own home,
# PostgreSQL, identity providers): its PostgreSQL gets a port of its own, so two workers starting at
# once never race for the default one.
if os.environ.get("PYTEST_XDIST_WORKER"):
    from finefinance_platform.source.embedded_postgres import free_loopback_port  # noqa: E402

    os.environ["FINEFINANCE_SOURCE_PORT"] = str(free_loopback_port())

from helpers.environment import collect_garbage_before_pages, create_source_database  # noqa: E402

from finefinance_platform.settings import SOURCE_DATABASE, get_settings  # noqa: E402
from finefinance_platform.source.embedded_postgres import EmbeddedPostgres  # noqa: E402
from finefinance_platform.source.migrations import apply_migrations  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before pytest's own tmp_path plugin reads the option
def pytest_configure(config):
    """The session's `tmp_path` folders live in a folder of its own, not under pytest's shared
    `/tmp/pytest-of-<user>`: every pytest session that starts on the machine makes that one 0700
    again, and a test's embedded PostgreSQL (run as an unprivileged user when the tests run as
    root) then loses its way to its data ("could not open file .../global/pg_control: Permission
    denied", seen when `make stress` and `make test` ran at once). xdist's workers get sub-folders."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="finefinance-pytest-")


@pytest.hookimpl(tryfirst=True)  # after the test's fixtures (their Dagster runs too), before its body
def pytest_runtest_call(item):
    """A test that renders pages with Streamlit's AppTest starts with the process's garbage
    collected (`collect_garbage_before_pages`)."""
    if getattr(getattr(item, "module", None), "AppTest", None) is not None:
        collect_garbage_before_pages()


def pytest_collection_modifyitems(items):
    """The files marked `slow(minutes=N)` first, longest first: under `make test`'s two workers the
    long files start early and the short ones fill in around them, instead of one starting last."""

    def minutes(item) -> float:
        slow = item.get_closest_marker("slow")
        return slow.kwargs.get("minutes", 1) if slow else 0

    items.sort(key=minutes, reverse=True)  # stable: the order inside a file is kept


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

    def make(prefix: str = "src") -> str:
        dsn = create_source_database(prefix)
        apply_migrations(dsn, get_settings().source_reader_password)
        return dsn

    return make


@pytest.fixture()
def source_dsn(make_source_db) -> str:
    return make_source_db()


@pytest.fixture(scope="session")
def default_source_dsn(embedded_postgres) -> str:
    """The embedded server's own `finefinance` database (what the CLI and Dagster use)."""
    return get_settings().source_url(database=SOURCE_DATABASE)


@pytest.fixture(scope="session")
def xs_platform(make_source_db, tmp_path_factory):
    """The whole platform built once at scale XS: simulated source → dlt → dbt → Dagster.

    Tests that only read share it; tests that change data take `xs_clone`.
    """
    from dagster import DagsterInstance
    from helpers.environment import platform_env

    from finefinance_platform.runs.pipeline import run_pipeline
    from finefinance_platform.source import simulator

    monkeypatch = pytest.MonkeyPatch()
    dsn = make_source_db("xs")
    warehouse = tmp_path_factory.mktemp("xs") / "warehouse.duckdb"
    with platform_env(monkeypatch, dsn, warehouse) as settings:
        simulator.simulate(dsn, customers=200, months=XS_MONTHS, seed=7, start=XS_FIRST_MONTH)
        instance = DagsterInstance.ephemeral()
        report = run_pipeline(settings, echo=lambda *_: None, instance=instance)
    monkeypatch.undo()
    return {"dsn": dsn, "warehouse": warehouse, "report": report, "instance": instance}


@pytest.fixture()
def xs_clone(xs_platform, embedded_postgres, tmp_path, monkeypatch):
    """A private copy of the XS platform (source database from a template, warehouse file copied),
    with the settings pointing at it for the test's duration."""
    import shutil

    from helpers.environment import clone_source, platform_env

    dsn = clone_source(xs_platform, "xsclone")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(xs_platform["warehouse"], warehouse)
    with platform_env(monkeypatch, dsn, warehouse):
        yield {"dsn": dsn, "warehouse": warehouse}
