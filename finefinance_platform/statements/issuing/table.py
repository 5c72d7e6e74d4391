"""The table of issued statements, `delivery.statement_issues`: its DDL (DuckDB and Snowflake) and
its Arrow schema (what issuing inserts)."""

from __future__ import annotations

from finefinance_platform.serving.marts import dialect, has_table

TABLE = "delivery.statement_issues"

ISSUES_DDL = f"""
create schema if not exists delivery;
create table if not exists {TABLE} (
    customer_id varchar not null,
    month_start date not null,
    version integer not null,            -- 1, 2, ... per customer and month
    issued_at timestamp not null,        -- UTC
    content_sha256 varchar not null,     -- SHA-256 of `content`
    reason varchar,                      -- NULL for version 1
    replaces_version integer,            -- NULL for version 1
    firstname varchar,                   -- the name printed on this version
    surname varchar,
    content varchar not null,            -- canonical content: lines and totals of every account (JSON)
    lines_added integer,                 -- against the version replaced (NULL for version 1)
    lines_removed integer,
    lines_changed integer,
    closing_before decimal(18, 2),       -- the customer's closing balance (all accounts) in the version replaced
    closing_after decimal(18, 2),        -- ... and in this version
    primary key (customer_id, month_start, version)
)
"""


def arrow_schema():
    """The table's columns as Arrow types, for the rows an issue registers with DuckDB (pyarrow is
    imported here, when statements are issued, not when the code location loads)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("customer_id", pa.string()),
            ("month_start", pa.date32()),
            ("version", pa.int32()),
            ("issued_at", pa.timestamp("us")),
            ("content_sha256", pa.string()),
            ("reason", pa.string()),
            ("replaces_version", pa.int32()),
            ("firstname", pa.string()),
            ("surname", pa.string()),
            ("content", pa.string()),
            ("lines_added", pa.int32()),
            ("lines_removed", pa.int32()),
            ("lines_changed", pa.int32()),
            ("closing_before", pa.decimal128(18, 2)),
            ("closing_after", pa.decimal128(18, 2)),
        ]
    )


def has_issues_table(con) -> bool:
    """Whether the database behind `con` (the warehouse or the serving copy) has the table."""
    return has_table(con, "delivery", "statement_issues")


def ensure_issues_table(con) -> None:
    if dialect(con) == "duckdb":
        con.execute(ISSUES_DDL)
    else:
        # on Snowflake the schema is the setup's (sql/snowflake/010_database.sql), with its grants
        con.execute(ISSUES_DDL.split(";", 1)[1])
