"""Helpers to point the platform at a test's own source database and warehouse."""

from __future__ import annotations

import gc
import os
import uuid
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
from dagster import AssetKey, AssetMaterialization, DagsterInstance

from finefinance_platform.settings import get_settings


def collect_garbage_before_pages() -> None:
    """Collect, in this thread, the garbage Dagster runs left (their instances' SQLite connections)
    before Streamlit's AppTest renders pages. Collected inside a page's script thread instead, such a
    connection's finalizer fails ("SQLite objects created in a thread can only be used in that same
    thread") and logs a traceback; formatting it parses source while Streamlit parses the page, and
    Python 3.11.7 then stops the page with "AST constructor recursion depth mismatch" (CPython
    gh-106905, fixed in 3.11.8)."""
    gc.collect()


def reader_dsn(owner_dsn: str) -> str:
    settings = get_settings()
    return owner_dsn.replace("postgres:", "finefinance_reader:", 1).replace(
        settings.source_superuser_password, settings.source_reader_password, 1
    )


@contextmanager
def platform_env(monkeypatch, source_dsn: str, warehouse: Path, first_month: str | None = None):
    """Settings for one test: its source database (owner + read-only role) and its warehouse file."""
    monkeypatch.setenv("FINEFINANCE_SOURCE_URL", source_dsn)
    monkeypatch.setenv("FINEFINANCE_SOURCE_READER_URL", reader_dsn(source_dsn))
    monkeypatch.setenv("FINEFINANCE_DUCKDB_PATH", str(warehouse))
    if first_month:
        monkeypatch.setenv("FINEFINANCE_FIRST_MONTH", first_month)
    os.environ.update(get_settings().dbt_environment())
    yield get_settings()


def create_source_database(prefix: str = "src", template: str | None = None) -> str:
    """A new database on the session's PostgreSQL (empty, no migration applied; or a copy of
    `template`); its owner DSN."""
    settings = get_settings()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with closing(psycopg2.connect(settings.source_url(database="postgres"))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"create database {name}" + (f" template {template}" if template else ""))
    return settings.source_url(database=name)


def clone_source(xs_platform: dict, prefix: str = "rel") -> str:
    """A new source database with the XS data (PostgreSQL template copy); returns its owner DSN."""
    return create_source_database(prefix, template=xs_platform["dsn"].rsplit("/", 1)[-1])


def instance_with_every_month_built(months: list[str]) -> DagsterInstance:
    """A Dagster instance that has seen every month's statements built and issued: a run then
    rebuilds only the months late data calls for."""
    instance = DagsterInstance.ephemeral()
    for month in months:
        for key in (["marts", "fct_monthly_statement"], ["delivery", "statement_issues"]):
            instance.report_runless_asset_event(AssetMaterialization(AssetKey(key), partition=month))
    return instance
