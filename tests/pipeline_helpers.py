"""Helpers to point the platform at a test's own source database and warehouse."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from finefinance_platform.settings import get_settings


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
