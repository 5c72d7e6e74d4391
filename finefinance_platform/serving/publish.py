"""Publishing the serving copy of the marts, so readers and the pipeline never block each other.

DuckDB allows one writer per file, and a writer cannot open a file another process holds open
(nor a reader one the writer holds). So the dashboard and the HTTP service never open the
warehouse: after each materialization the pipeline copies the `marts` schema into a *new* file
and renames it over `<FINEFINANCE_HOME>/serving/marts.duckdb`. The rename is atomic: a reader that
opens mid-publish gets the old file or the new one, never half of one; a reader that already has
the old file open keeps reading it (the old inode lives until it closes); the writer never touches
a file a reader has open.

Beside the marts, the copy holds `delivery.statement_issues` (the issued versions of statements),
so every reader serves the versions the pipeline issued.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import duckdb

from finefinance_platform.serving.marts import (
    METADATA_TABLE,
    MartsUnavailableError,
    _quote_path,
    serving_path,
)
from finefinance_platform.settings import Settings

# tables outside `marts` that readers need, copied when the warehouse has them
EXTRA_TABLES = (("delivery", "statement_issues"),)
# Tables only ever appended to, with their key: an issued version is a record that never changes
# (statements/issuing/), so a copy that already holds some gets only the versions it lacks. The
# issued statements carry their content: 194 MB at scale S, 4.4 s of a 7 s publish copied whole.
APPEND_ONLY_KEYS = {("delivery", "statement_issues"): ("customer_id", "month_start", "version")}


def publish_serving_copy(con_or_path, settings: Settings, changed_since: dt.datetime | None = None, changed=()) -> Path:
    """Copy every table and view of the `marts` schema (and EXTRA_TABLES) into a new file, then
    rename it into place.

    `con_or_path` is an open DuckDB connection on the warehouse (the pipeline's own, read-write or
    read-only) or the warehouse's path (opened read-only for the copy).

    With `changed_since` (when the copy in place was published) and `changed` (the tables, as
    `schema.table`, written since then), the new file starts as a copy of the one in place and only
    those tables are copied again: the live cycle changes two small marts every few minutes, and
    copying the 700,000 statement lines each time cost 5 s of its 15 s at scale S. Any doubt (no
    copy in place, published at another time, a table it lacks) falls back to the whole copy.
    """
    target = serving_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.stem}-{uuid.uuid4().hex}.duckdb.tmp"
    alias = f"serving_new_{uuid.uuid4().hex[:12]}"

    own_connection = isinstance(con_or_path, str | os.PathLike)
    if own_connection:
        source_path = Path(con_or_path)
        if not source_path.exists():
            raise MartsUnavailableError(f"no warehouse at {source_path}: nothing to publish")
        con = duckdb.connect(":memory:")
        con.execute(f"attach {_quote_path(source_path)} as warehouse (read_only)")
        source_catalog = "warehouse"
    else:
        con = con_or_path
        source_catalog = con.execute("select current_database()").fetchone()[0]

    try:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = ? and table_schema = 'marts' order by table_name",
                [source_catalog],
            ).fetchall()
        ]
        if not tables:
            raise MartsUnavailableError(
                f"the warehouse has no `marts` schema yet (catalog {source_catalog!r}): build the marts first"
            )
        wanted = [("marts", table) for table in tables]
        for schema, table in EXTRA_TABLES:
            present = con.execute(
                "select count(*) from information_schema.tables "
                "where table_catalog = ? and table_schema = ? and table_name = ?",
                [source_catalog, schema, table],
            ).fetchone()[0]
            if present:
                wanted.append((schema, table))
        to_copy, appended = wanted, []
        if changed_since is not None and _published(target) == (changed_since, {f"{s}.{t}" for s, t in wanted}):
            shutil.copyfile(target, tmp)
            to_copy = [(schema, table) for schema, table in wanted if f"{schema}.{table}" in set(changed)]
            appended = [name for name in to_copy if name in APPEND_ONLY_KEYS]
        # READ_ONLY false: a read-only source connection would otherwise attach the new file read-only
        con.execute(f"attach {_quote_path(tmp)} as {alias} (read_only false)")
        try:
            for schema, table in to_copy:
                source, copy = f'"{source_catalog}"."{schema}"."{table}"', f'{alias}."{schema}"."{table}"'
                if (schema, table) in appended:
                    same_key = " and ".join(f"c.{column} = s.{column}" for column in APPEND_ONLY_KEYS[schema, table])
                    con.execute(
                        f"insert into {copy} by name select * from {source} as s "
                        f"where not exists (select 1 from {copy} as c where {same_key})"
                    )
                    continue
                con.execute(f'create schema if not exists {alias}."{schema}"')
                con.execute(f"create or replace table {copy} as select * from {source}")
            con.execute(f"create schema if not exists {alias}.serving_meta")
            con.execute(
                f"create or replace table {alias}.{METADATA_TABLE} as "
                "select ?::timestamp as published_at, ?::varchar as source_catalog, ?::bigint as table_count",
                [dt.datetime.now(dt.UTC).replace(tzinfo=None), source_catalog, len(tables)],
            )
            con.execute(f"checkpoint {alias}")
        finally:
            con.execute(f"detach {alias}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    finally:
        if own_connection:
            con.close()
    return target


def _published(path: Path) -> tuple[dt.datetime, set[str]] | None:
    """When the copy at `path` was published and the `schema.table`s it holds (None: no copy)."""
    if not path.exists():
        return None
    try:
        with duckdb.connect(":memory:") as con:
            con.execute(f"attach {_quote_path(path)} as copy (read_only)")
            (when,) = con.execute(f"select published_at from copy.{METADATA_TABLE}").fetchone()
            tables = con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_catalog = 'copy' and table_schema <> 'serving_meta'"
            ).fetchall()
    except duckdb.Error:
        return None
    return when, {name for (name,) in tables}


def published_time(settings: Settings) -> dt.datetime | None:
    """When the serving copy in place was published (UTC, naive); None when there is none."""
    published = _published(serving_path(settings))
    return published[0] if published else None


def serving_tables(path: Path) -> list[str]:
    """The `marts` tables inside a published copy."""
    with duckdb.connect(":memory:") as con:
        con.execute(f"attach {_quote_path(path)} as copy (read_only)")
        rows = con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'copy' and table_schema = 'marts' order by table_name"
        ).fetchall()
    return [name for (name,) in rows]
