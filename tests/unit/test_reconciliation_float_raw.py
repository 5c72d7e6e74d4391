"""The raw side of `raw_matches_source` on FLOAT raw: Airbyte's Snowflake destination writes every
numeric column as FLOAT, and a sum of doubles is a fraction of a cent off the source's exact sum,
so the check would report a mismatch where there is none. Each value is cast back to its cents first.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import duckdb
import pytest

from finefinance_platform.checks.reconciliation import _raw_month_sql, compare_months
from finefinance_platform.source.tables import SOURCE_TABLES_BY_NAME

# ten times 0.10 is 0.9999999999999999 in doubles; the largest numeric(12, 2) and 0.29 (whose double is
# below it) keep their cents only if each value is rounded back, not truncated
AMOUNTS = [Decimal("0.10")] * 10 + [Decimal("9999999999.99"), Decimal("0.29"), Decimal("4.35")]
EXACT = sum(AMOUNTS, Decimal(0))
CREATE = (
    "create table raw.transaction (transaction_id varchar, transaction_date timestamp with time zone, "
    "amount {float}, updated_at timestamp with time zone)"
)


@contextmanager
def _warehouse(kind: str):
    """A cursor on a warehouse whose raw.transaction holds AMOUNTS as FLOAT, in January 2025."""
    if kind == "duckdb":
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute("create schema raw")
            con.execute(CREATE.format(float="double"))
            yield con
        return
    import fakesnow
    import snowflake.connector

    with fakesnow.patch(), snowflake.connector.connect(database="FLOATRAW", schema="RAW") as con:
        cursor = con.cursor()
        cursor.execute("create database if not exists floatraw")
        cursor.execute("create schema if not exists floatraw.raw")
        cursor.execute("use schema floatraw.raw")
        cursor.execute(CREATE.format(float="float"))
        yield cursor


@pytest.mark.parametrize("kind", ["duckdb", "snowflake"])
def test_the_raw_sum_of_float_amounts_is_the_exact_source_sum(kind):
    at = dt.datetime(2025, 1, 15, 10, tzinfo=dt.UTC)
    with _warehouse(kind) as cursor:
        mark = "?" if kind == "duckdb" else "%s"
        cursor.executemany(
            f"insert into raw.transaction values ({mark}, {mark}, {mark}, {mark})",
            [(f"t{i}", at, float(amount), at) for i, amount in enumerate(AMOUNTS)],
        )
        (floats,) = cursor.execute("select sum(amount) from raw.transaction").fetchone()
        rows = cursor.execute(_raw_month_sql(SOURCE_TABLES_BY_NAME["transaction"])).fetchall()
    assert Decimal(str(floats)) != EXACT  # what summing the doubles would have reconciled
    assert [(month, count, total) for month, count, total, _latest in rows] == [("2025-01-01", len(AMOUNTS), EXACT)]
    assert compare_months({"2025-01-01": (len(AMOUNTS), EXACT)}, {row[0]: (row[1], row[2]) for row in rows}) == []
