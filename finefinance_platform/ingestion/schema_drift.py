"""Schema drift at the source, caught before anything is ingested.

The dbt sources (dbt_project/models/staging/__sources.yml) declare each raw column the models read,
with its type. dlt would not stop on drift by itself: a dropped source column becomes NULLs in the
existing raw column, a retyped one a new variant column beside it. So the ingestion first compares
the source tables with the declarations and refuses to load when a declared column is missing or
of another kind, naming the table and column: raw and the marts keep their last good state. New
columns are fine (dlt adds them to raw). The same declarations are asserted on the raw tables at
the start of every dbt run (macros/assert_raw_columns.sql), which covers the Airbyte path.
"""

from __future__ import annotations

from contextlib import closing

import psycopg2
import yaml
from dagster import Failure

from finefinance_platform.settings import DBT_PROJECT_DIR
from finefinance_platform.source.tables import SOURCE_TABLES

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "__sources.yml"


def type_kind(data_type: str | None) -> str:
    """text, number, date, timestamp or boolean: the same rule as macros/assert_raw_columns.sql."""
    text = (data_type or "").lower()
    if "timestamp" in text or "datetime" in text:
        return "timestamp"
    if text.startswith("date"):
        return "date"
    if any(word in text for word in ("char", "text", "string", "uuid")):
        return "text"
    if any(word in text for word in ("int", "dec", "numeric", "number", "double", "float", "real")):
        return "number"
    if "bool" in text:
        return "boolean"
    return text


def declared_columns(path=SOURCES_YML) -> dict[str, dict[str, str]]:
    """{table: {column: declared type}} for the raw source's tables."""
    sources = yaml.safe_load(path.read_text())["sources"]
    raw = next(source for source in sources if source["name"] == "raw")
    return {
        table["name"]: {c["name"]: c["data_type"] for c in table.get("columns", []) if c.get("data_type")}
        for table in raw["tables"]
    }


def drift(declared: dict[str, dict[str, str]], actual: dict[str, dict[str, str]], names: dict[str, str]) -> list[str]:
    """One sentence per declared column that is missing or of another kind; pure, unit-tested."""
    problems = []
    for table, columns in declared.items():
        where = names.get(table, table)
        found = {name.lower(): type_ for name, type_ in actual.get(table, {}).items()}
        if not found:
            problems.append(f"{where} does not exist")
            continue
        for name, declared_type in columns.items():
            if name.lower() not in found:
                problems.append(f"{where} has no column {name} (the models read it as {declared_type})")
            elif type_kind(found[name.lower()]) != type_kind(declared_type):
                problems.append(f"{where}.{name} is {found[name.lower()]}, the models read it as {declared_type}")
    return problems


def source_columns(url: str) -> dict[str, dict[str, str]]:
    wanted = {(t.schema, t.name): t.name for t in SOURCE_TABLES}
    with closing(psycopg2.connect(url, connect_timeout=10)) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema = any(%s)",
            (sorted({schema for schema, _ in wanted}),),
        )
        columns: dict[str, dict[str, str]] = {}
        for schema, table, column, data_type in cur.fetchall():
            if (schema, table) in wanted:
                columns.setdefault(wanted[(schema, table)], {})[column] = data_type
    return columns


def assert_source_schema(url: str) -> None:
    names = {t.name: t.qualified_name for t in SOURCE_TABLES}
    problems = drift(declared_columns(), source_columns(url), names)
    if problems:
        raise Failure(
            "schema drift at the source, nothing was ingested: "
            + "; ".join(problems)
            + ". Restore the column at the source, or change its declaration in "
            "dbt_project/models/staging/__sources.yml and the models that read it.",
            allow_retries=False,
        )
