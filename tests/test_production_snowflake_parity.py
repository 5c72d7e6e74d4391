"""The same dbt project on DuckDB and on Snowflake (the fakesnow emulator): identical marts.

One simulated source (XS customers: 200, over two months) is exported once to Parquet and loaded
into raw on both warehouses (DuckDB reads the files, Snowflake takes them through COPY INTO);
`dbt build` then runs month by month on each (the second month takes the incremental paths:
month-window replace, snapshot merge) and every mart is compared row for row: same columns, same
rows, same numbers to the cent. The Snowflake side goes through dbt-snowflake and the Snowflake
connector with key-pair login, against fakesnow's server.

One emulator quirk is switched off for this server: fakesnow rewrites SUM(x) / AVG(x) into
SUM(TRY_CAST(x AS DOUBLE)) to mimic Snowflake's implicit text-to-number cast, which turns exact
NUMBER sums into floating point; Snowflake sums NUMBER exactly, and no model sums text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fakesnow.transforms
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import snowflake.connector
from dbt_helpers import RAW_TABLES, create_raw_tables, month_vars, read_rows, run_dbt
from test_production_snowflake_setup import start_fakesnow_server, write_key_pair

from finefinance_platform.production.snowflake_setup import PERSONAL_COLUMNS
from finefinance_platform.settings import DBT_PROJECT_DIR
from finefinance_platform.source import simulator
from finefinance_platform.source.tables import SOURCE_TABLES_BY_NAME

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=2)

MONTHS = ("2025-01-01", "2025-02-01")
DATABASE = "FINEFINANCE_PARITY"
MARTS = sorted(path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))
SNOWFLAKE_TYPES = {"varchar": "varchar", "date": "date", "timestamptz": "timestamp_tz"}
ARROW_TYPES = {"varchar": pa.string(), "date": pa.date32(), "timestamptz": pa.timestamp("us", tz="UTC")}


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("decimal"):
        precision, scale = (int(part) for part in sql_type[len("decimal(") : -1].split(","))
        return pa.decimal128(precision, scale)
    return ARROW_TYPES[sql_type]


def _export_raw(dsn: str, directory: Path) -> dict[str, list[dict]]:
    """Each source table as raw.<table> holds it (source columns + dlt's two): one Parquet file
    per table in <directory>/<table>/, what both warehouses load. Returns the rows too."""
    rows = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        for table, columns in RAW_TABLES.items():
            cursor.execute(f"select {', '.join(columns)} from {SOURCE_TABLES_BY_NAME[table].qualified_name}")
            rows[table] = [
                {name: str(value) if isinstance(value, uuid.UUID) else value for name, value in zip(columns, row)}
                for row in cursor.fetchall()
            ]
            schema = pa.schema(
                [(name, _arrow_type(sql_type)) for name, sql_type in columns.items()]
                + [("_dlt_load_id", pa.string()), ("_dlt_id", pa.string())]
            )
            records = [
                {**row, "_dlt_load_id": "load-1", "_dlt_id": f"{table}-{i}"} for i, row in enumerate(rows[table])
            ]
            (directory / table).mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist(records, schema=schema), directory / table / f"{table}.parquet")
    return rows


def _load_duckdb(duckdb_file: Path, directory: Path) -> None:
    create_raw_tables(duckdb_file)  # the dbt tests' own raw DDL
    with duckdb.connect(str(duckdb_file)) as connection:
        for table in RAW_TABLES:
            connection.execute(
                f"insert into raw.\"{table}\" select * from read_parquet('{directory / table}/*.parquet')"
            )


def _load_snowflake(connection, directory: Path) -> None:
    """The same files through COPY INTO, as Snowflake loads staged files."""
    cursor = connection.cursor()
    cursor.execute(f"create database if not exists {DATABASE}")
    cursor.execute(f"create schema if not exists {DATABASE}.raw")
    for table, columns in RAW_TABLES.items():
        definitions = ", ".join(
            f"{name} {SNOWFLAKE_TYPES.get(sql_type, sql_type.replace('decimal', 'number'))}"
            for name, sql_type in columns.items()
        )
        cursor.execute(
            f"create or replace table {DATABASE}.raw.{table} ({definitions}, _dlt_load_id varchar, _dlt_id varchar)"
        )
        cursor.execute(
            f"copy into {DATABASE}.raw.{table} from 'file://{directory / table}' "
            "file_format = (type = parquet) match_by_column_name = case_insensitive"
        )


def _connect(emulator: dict, private_key: str):
    """The connector as dbt uses it: key-pair login (the emulator's password left out)."""
    parameters = {key: value for key, value in emulator.items() if key != "password"}
    return snowflake.connector.connect(**parameters, private_key_file=private_key)


@pytest.fixture(scope="module")
def snowflake_emulator():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fakesnow.transforms, "numeric_agg_implicit_cast", lambda expression: expression)
        with start_fakesnow_server() as connection_kwargs:
            yield connection_kwargs


@dataclass(frozen=True)
class Built:
    duckdb_file: Path
    emulator: dict
    private_key: str
    rows: dict[str, list[dict]]
    masking_output: str


@pytest.fixture(scope="module")
def built_warehouses(make_source_db, snowflake_emulator, tmp_path_factory):
    """Both warehouses loaded with the same raw data and built month by month, side by side."""
    work = tmp_path_factory.mktemp("parity")
    dsn = make_source_db("parity")
    simulator.simulate(dsn, customers=200, months=len(MONTHS), seed=17, start=dt.date.fromisoformat(MONTHS[0]))
    rows = _export_raw(dsn, work / "raw")

    duckdb_file = work / "warehouse.duckdb"
    _load_duckdb(duckdb_file, work / "raw")
    private_key, _public_key = write_key_pair(work, "transform")
    connection = _connect(snowflake_emulator, private_key)
    try:
        _load_snowflake(connection, work / "raw")
    finally:
        connection.close()

    def build_duckdb() -> None:
        for month in MONTHS:
            run_dbt(duckdb_file, "build", vars=month_vars(month), work_dir=work / "dbt-duckdb")

    def build_snowflake() -> str:
        for month in MONTHS:
            # the fakesnow target reads no DuckDB path: `unused` only satisfies the helper
            run_dbt(
                work / "unused.duckdb", "build", "--target", "fakesnow",
                vars=month_vars(month), work_dir=work / "dbt-fakesnow",
            )  # fmt: skip
        masking = run_dbt(
            work / "unused.duckdb", "run-operation", "show_masking_statements", "--target", "fakesnow",
            "--args", "{schema: marts, identifier: dim_customer}", work_dir=work / "dbt-fakesnow",
        )  # fmt: skip
        return masking.stdout

    with pytest.MonkeyPatch.context() as patch:
        # what the fakesnow target of profiles.yml reads
        patch.setenv("FINEFINANCE_FAKESNOW_PORT", str(snowflake_emulator["port"]))
        patch.setenv("FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH", private_key)
        patch.setenv("FINEFINANCE_SNOWFLAKE_DATABASE", DATABASE)
        # two dbt processes at once: the emulator's side is the slow one
        with ThreadPoolExecutor(max_workers=2) as pool:
            duckdb_done, snowflake_done = pool.submit(build_duckdb), pool.submit(build_snowflake)
            duckdb_done.result()
            masking_output = snowflake_done.result()
    return Built(duckdb_file, snowflake_emulator, private_key, rows, masking_output)


def _normal(value):
    """One comparable form: exact decimals, naive UTC timestamps."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value)).normalize()
    if isinstance(value, decimal.Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sorted_rows(rows: list[tuple]) -> list[tuple]:
    normal = [tuple(_normal(value) for value in row) for row in rows]
    return sorted(normal, key=lambda row: tuple((value is None, str(value)) for value in row))


def _snowflake_table(emulator, private_key: str, mart: str) -> tuple[list[str], list[tuple]]:
    connection = _connect(emulator, private_key)
    try:
        cursor = connection.cursor().execute(f"select * from {DATABASE}.marts.{mart}")
        return [column[0].lower() for column in cursor.description], cursor.fetchall()
    finally:
        connection.close()


def test_the_marts_cover_the_contract():
    assert {"fct_monthly_statement", "fct_statement_line", "kpi_monthly_growth", "dim_customer"} <= set(MARTS)
    assert len(MARTS) >= 14


@pytest.mark.parametrize("mart", MARTS)
def test_mart_is_identical_on_duckdb_and_snowflake(built_warehouses, mart):
    built = built_warehouses
    duckdb_rows = read_rows(built.duckdb_file, f"select * from marts.{mart}")
    duckdb_columns = list(duckdb_rows[0]) if duckdb_rows else []
    snowflake_columns, snowflake_rows = _snowflake_table(built.emulator, built.private_key, mart)

    assert len(snowflake_rows) == len(duckdb_rows), mart
    if duckdb_rows:
        assert snowflake_columns == duckdb_columns
    expected = _sorted_rows([tuple(row.values()) for row in duckdb_rows])
    actual = _sorted_rows(snowflake_rows)
    mismatches = [(want, got) for want, got in zip(expected, actual, strict=True) if want != got]
    assert not mismatches, f"{mart}: {len(mismatches)} rows differ, first: {mismatches[0]}"


def test_both_months_were_built_and_hold_the_money(built_warehouses):
    built = built_warehouses
    _columns, statements = _snowflake_table(built.emulator, built.private_key, "fct_monthly_statement")
    months = {row[2] for row in statements}  # account_id, customer_id, month_start, ...
    assert months == {dt.date.fromisoformat(month) for month in MONTHS}
    # the completed money of the source, counted independently of dbt, is in fct_transaction
    completed = [r for r in built.rows["transaction"] if r["status"] == "completed"]
    expected_total = sum((r["amount"] for r in completed), decimal.Decimal(0))
    _columns, transactions = _snowflake_table(built.emulator, built.private_key, "fct_transaction")
    assert len(transactions) == len(completed) > 1000
    amount_index = _columns.index("amount")
    assert sum(row[amount_index] for row in transactions) == expected_total
    (duckdb_total,) = read_rows(built.duckdb_file, "select sum(amount) as total from marts.fct_transaction")
    assert duckdb_total["total"] == expected_total


def test_masking_statements_name_every_personal_column(built_warehouses):
    # what dbt would run on Snowflake after building dim_customer (the emulator only lists it)
    built = built_warehouses
    statements = [line for line in built.masking_output.splitlines() if line.startswith("alter table")]
    columns, _rows = _snowflake_table(built.emulator, built.private_key, "dim_customer")
    personal = [f'"{c.upper()}"' for c in columns if c in PERSONAL_COLUMNS]
    assert len(personal) >= 2  # firstname, surname (docs/business-definitions.md#warehouse-tables)
    assert [s.split(" modify column ")[1].split()[0] for s in statements] == personal
    assert all(f"set masking policy {DATABASE}.governance.mask_" in s and s.endswith(" force") for s in statements)
