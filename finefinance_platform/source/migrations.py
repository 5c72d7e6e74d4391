"""Applies `sql/postgres/NNN_*.sql` to the operational source, each file once.

Applied versions are recorded in `public.schema_migrations`, so an existing database is upgraded
in place, never recreated. Each file runs in its own transaction with its version row: a failing
file leaves the database at the previous version.
"""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from finefinance_platform.settings import POSTGRES_DDL_DIR, SOURCE_READER_ROLE

_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# any constant works; it only has to be the same for every process applying migrations
_ADVISORY_LOCK = 874_301


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path


def discover(ddl_dir: Path = POSTGRES_DDL_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(ddl_dir.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNN_lowercase_name.sql")
        migrations.append(Migration(match.group(1), path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{ddl_dir}: two migration files share a version number")
    return migrations


def apply_migrations(dsn: str, reader_password: str | None = None, ddl_dir: Path = POSTGRES_DDL_DIR) -> list[str]:
    """Apply the pending migrations; returns the file names applied (empty when up to date)."""
    applied_now = []
    with closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            # two processes starting at once must not both apply 001
            cur.execute("select pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
            try:
                cur.execute(
                    "create table if not exists public.schema_migrations ("
                    " version text primary key, name text not null,"
                    " applied_at timestamptz not null default now())"
                )
                cur.execute("select version from public.schema_migrations")
                done = {row[0] for row in cur.fetchall()}
                for migration in discover(ddl_dir):
                    if migration.version in done:
                        continue
                    cur.execute("begin")
                    try:
                        cur.execute(migration.path.read_text())
                        cur.execute(
                            "insert into public.schema_migrations (version, name) values (%s, %s)",
                            (migration.version, migration.path.name),
                        )
                        cur.execute("commit")
                    except Exception as exc:
                        cur.execute("rollback")
                        raise RuntimeError(f"migration {migration.path.name} failed: {exc}") from exc
                    applied_now.append(migration.path.name)
                if reader_password is not None:
                    # the password comes from the settings (environment), never from the DDL files
                    cur.execute(f"alter role {SOURCE_READER_ROLE} login password %s", (reader_password,))
            finally:
                cur.execute("select pg_advisory_unlock(%s)", (_ADVISORY_LOCK,))
    return applied_now


def applied_versions(dsn: str) -> list[str]:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("select version from public.schema_migrations order by version")
        return [row[0] for row in cur.fetchall()]
