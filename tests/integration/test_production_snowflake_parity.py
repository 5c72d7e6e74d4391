"""The same dbt project on DuckDB and on Snowflake (the fakesnow emulator): identical marts, and
people served from Snowflake exactly as from DuckDB.

One simulated source (XS customers: 200, over two months) is exported once to Parquet and loaded
into raw on both warehouses: DuckDB as dlt writes it (source columns + `_dlt_load_id`, `_dlt_id`),
Snowflake as Airbyte's Snowflake destination writes it (upper-case identifiers, its four
`_AIRBYTE_*` columns, numeric as NUMBER(38,9)). `dbt build` then runs month by month on each (the
second month takes the incremental paths: month-window replace, snapshot merge) and every mart is
compared row for row: same columns, same rows, same numbers to the cent. The Snowflake side goes
through dbt-snowflake and the Snowflake connector with key-pair login, against fakesnow's server.

On top of the same build (`served`): `finefinance snowflake setup` applied to the emulator, both
months issued on both warehouses, and the readers (statements, dashboard queries, the HTTP service,
the dashboards, the access log) compared between the DuckDB serving copy and Snowflake read as the
reporting identity. fakesnow enforces no grant: the reporting identity's rights are checked on the
setup's SQL (test_production_snowflake_setup.py), and here that the readers sign in as it.

One emulator quirk is switched off for this server: fakesnow rewrites SUM(x) / AVG(x) into
SUM(TRY_CAST(x AS DOUBLE)) to mimic Snowflake's implicit text-to-number cast, which turns exact
NUMBER sums into floating point; Snowflake sums NUMBER exactly, and no model sums text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fakesnow.transforms
import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import snowflake.connector
from helpers.dbt_runs import RAW_TABLES, create_raw_tables, month_vars, read_rows, run_dbt
from test_production_snowflake_setup import FAKESNOW_SKIPS, start_fakesnow_server, write_key_pair

from finefinance_platform.months import add_months
from finefinance_platform.production.snowflake_setup import PERSONAL_COLUMNS, connection_parameters
from finefinance_platform.settings import DBT_PROJECT_DIR
from finefinance_platform.source import simulator
from finefinance_platform.source.tables import SOURCE_TABLES_BY_NAME

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=2)

MONTHS = ("2025-01-01", "2025-02-01")
D0 = decimal.Decimal(0)
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


# Airbyte's Snowflake destination (typed tables, "direct load"): upper-case identifiers, its four
# metadata columns first, then the source columns by its type map: string and uuid VARCHAR, date
# DATE, timestamp with time zone TIMESTAMP_TZ, integer NUMBER(38,0), and numeric NUMBER(38,9) (the
# destination's `number_data_type` NUMBER(38,9); its default is FLOAT, never right for money).
AIRBYTE_METADATA = (
    ("_AIRBYTE_RAW_ID", "varchar not null"),
    ("_AIRBYTE_EXTRACTED_AT", "timestamp_tz not null"),
    ("_AIRBYTE_META", "variant not null"),
    ("_AIRBYTE_GENERATION_ID", "number(38,0)"),
)
AIRBYTE_TYPES = {"varchar": "varchar", "date": "date", "timestamptz": "timestamp_tz"}


def _airbyte_type(sql_type: str) -> str:
    return "number(38,9)" if sql_type.startswith("decimal") else AIRBYTE_TYPES[sql_type]


def _load_snowflake(connection, directory: Path) -> None:
    """The same files, landed through COPY INTO (as Snowflake loads staged files), then written into
    raw.<TABLE> in the shape Airbyte's destination gives it (AIRBYTE_METADATA, upper-case names)."""
    cursor = connection.cursor()
    cursor.execute(f"create database if not exists {DATABASE}")
    cursor.execute(f"create schema if not exists {DATABASE}.raw")
    cursor.execute(f"create schema if not exists {DATABASE}.airbyte_internal")
    for table, columns in RAW_TABLES.items():
        landing = f"{DATABASE}.airbyte_internal.{table}_landing"
        definitions = ", ".join(
            f"{name} {SNOWFLAKE_TYPES.get(sql_type, sql_type.replace('decimal', 'number'))}"
            for name, sql_type in columns.items()
        )
        cursor.execute(f"create or replace table {landing} ({definitions}, _dlt_load_id varchar, _dlt_id varchar)")
        cursor.execute(
            f"copy into {landing} from 'file://{directory / table}' "
            "file_format = (type = parquet) match_by_column_name = case_insensitive"
        )
        airbyte_columns = [*AIRBYTE_METADATA, *((name.upper(), _airbyte_type(t)) for name, t in columns.items())]
        cursor.execute(
            f'create or replace table {DATABASE}.raw."{table.upper()}" '
            f"({', '.join(f'{chr(34)}{name}{chr(34)} {kind}' for name, kind in airbyte_columns)})"
        )
        cursor.execute(
            f'insert into {DATABASE}.raw."{table.upper()}" '
            "select uuid_string(), '2025-03-01 04:00:00+00:00'::timestamp_tz, "
            'parse_json(\'{"sync_id": 1, "changes": []}\'), 1, '
            f"{', '.join(columns)} from {landing}"
        )
        cursor.execute(f"drop table {landing}")


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
    # when each warehouse's run computed the row (the intraday marts' as_of, detected_at) differs
    kept = [i for i, column in enumerate(duckdb_columns) if column not in ("as_of", "detected_at")]
    expected = _sorted_rows([tuple(list(row.values())[i] for i in kept) for row in duckdb_rows])
    actual = _sorted_rows([tuple(row[i] for i in kept) for row in snowflake_rows])
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


# -- raw as Airbyte writes it --------------------------------------------------------------------


def test_raw_is_loaded_as_airbyte_writes_it(built_warehouses):
    built = built_warehouses
    connection = _connect(built.emulator, built.private_key)
    try:
        cursor = connection.cursor()
        columns = cursor.execute(
            "select column_name, data_type, numeric_precision, numeric_scale "
            f"from {DATABASE}.information_schema.columns "
            "where table_schema = 'RAW' and table_name = 'TRANSACTION' order by ordinal_position"
        ).fetchall()
        (count,) = cursor.execute(f"select count(*) from {DATABASE}.raw.transaction").fetchone()
    finally:
        connection.close()
    names = [name for name, *_ in columns]
    assert names[:4] == [name for name, _ in AIRBYTE_METADATA]
    assert names[4:] == [name.upper() for name in RAW_TABLES["transaction"]]
    assert {name: (kind, precision, scale) for name, kind, precision, scale in columns}["AMOUNT"] == ("NUMBER", 38, 9)
    assert count == len(built.rows["transaction"])


def test_no_ingestion_metadata_reaches_a_mart(built_warehouses):
    built = built_warehouses
    connection = _connect(built.emulator, built.private_key)
    try:
        snowflake_columns = (
            connection.cursor()
            .execute(
                f"select lower(table_name), lower(column_name) from {DATABASE}.information_schema.columns "
                "where table_schema = 'MARTS'"
            )
            .fetchall()
        )
    finally:
        connection.close()
    duckdb_columns = [
        (row["table_name"], row["column_name"])
        for row in read_rows(
            built.duckdb_file,
            "select table_name, column_name from information_schema.columns where table_schema = 'marts'",
        )
    ]
    for columns in (snowflake_columns, duckdb_columns):
        assert {table for table, _ in columns} == set(MARTS)
        assert not [(t, c) for t, c in columns if c.startswith(("_airbyte", "_dlt"))]


# -- people served from Snowflake: the same as from DuckDB -------------------------------------------

ISSUED_AT = dt.datetime(2025, 3, 1, 3)  # both warehouses issue at the same instant: the same documents


@dataclass(frozen=True)
class Served:
    """One FINEFINANCE_HOME read two ways: DuckDB (serving copy) and Snowflake (reporting identity)."""

    built: Built
    duckdb: object  # Settings
    snowflake: object  # Settings
    environments: dict[str, dict[str, str]]  # what those settings were loaded from
    reporting_key: str
    customer_id: str
    advisor_id: str


@pytest.fixture(scope="module")
def served(built_warehouses, tmp_path_factory) -> Served:
    """`finefinance snowflake setup` applied to the emulator's database (the access log, the delivery
    schema), both months issued on both warehouses, and the DuckDB serving copy published."""
    from finefinance_platform.delivery.issues import issue_month
    from finefinance_platform.delivery.serving import publish_serving_copy
    from finefinance_platform.production.snowflake import open_session
    from finefinance_platform.production.snowflake_setup import apply_setup
    from finefinance_platform.settings import load_settings

    built = built_warehouses
    work = tmp_path_factory.mktemp("served")
    keys = {identity: write_key_pair(work, identity) for identity in ("admin", "ingest", "reporting")}
    warehouse = work / "warehouse.duckdb"
    warehouse.write_bytes(built.duckdb_file.read_bytes())
    home = {"FINEFINANCE_HOME": str(work / "home")}
    environments = {
        "duckdb": {**home, "FINEFINANCE_DUCKDB_PATH": str(warehouse)},
        "snowflake": {
            **home,
            "FINEFINANCE_WAREHOUSE": "snowflake",
            "FINEFINANCE_SNOWFLAKE_ACCOUNT": "fakesnow",
            "FINEFINANCE_SNOWFLAKE_DATABASE": DATABASE,
            "FINEFINANCE_SNOWFLAKE_HOST": "127.0.0.1",
            "FINEFINANCE_SNOWFLAKE_PORT": str(built.emulator["port"]),
            "FINEFINANCE_SNOWFLAKE_PROTOCOL": "http",
            "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH": built.private_key,
            "FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_PATH": keys["reporting"][0],
            "FINEFINANCE_SNOWFLAKE_ADMIN_USER": "platform_admin",
            "FINEFINANCE_SNOWFLAKE_ADMIN_PRIVATE_KEY_PATH": keys["admin"][0],
            "FINEFINANCE_SNOWFLAKE_INGEST_PUBLIC_KEY_PATH": keys["ingest"][1],
            "FINEFINANCE_SNOWFLAKE_TRANSFORM_PUBLIC_KEY_PATH": keys["admin"][1],
            "FINEFINANCE_SNOWFLAKE_REPORTING_PUBLIC_KEY_PATH": keys["reporting"][1],
        },
    }
    duckdb_settings, snowflake_settings = (load_settings(environments[name]) for name in ("duckdb", "snowflake"))
    # what fakesnow cannot run (roles, grants, ...) is skipped; the setup's tests read those statements
    admin = snowflake.connector.connect(
        **{key: value for key, value in built.emulator.items() if key not in ("password", "session_parameters")},
        private_key_file=keys["admin"][0],
        session_parameters={**built.emulator["session_parameters"], "nop_regexes": FAKESNOW_SKIPS},
    )
    try:
        apply_setup(snowflake_settings, admin)
    finally:
        admin.close()

    with duckdb.connect(str(warehouse)) as con:
        for month in MONTHS:
            issue_month(con, dt.date.fromisoformat(month), now=ISSUED_AT)
    publish_serving_copy(warehouse, duckdb_settings)
    with open_session(snowflake_settings, "transform") as session:
        for month in MONTHS:
            issue_month(session, dt.date.fromisoformat(month), now=ISSUED_AT)

    # a customer with lines in both months, and their advisor
    (customer_id, advisor_id) = read_rows(
        warehouse,
        "select cast(c.customer_id as varchar) as customer_id, cast(c.advisor_id as varchar) as advisor_id "
        "from marts.fct_monthly_statement s join marts.dim_customer c using (customer_id) "
        "group by all having count(distinct s.month_start) = 2 order by sum(s.transaction_count) desc limit 1",
    )[0].values()
    return Served(
        built, duckdb_settings, snowflake_settings, environments, keys["reporting"][0], customer_id, advisor_id
    )


def test_readers_open_snowflake_as_the_reporting_identity(served, caplog):
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.production.snowflake import SnowflakeSession
    from finefinance_platform.production.snowflake_setup import REPORTING_ROLE, REPORTING_USER, REPORTING_WAREHOUSE

    # fakesnow does not enforce grants: what is checked here is *who* the readers sign in as (the
    # emulator's server log shows the login's role and warehouse); what that identity may do is
    # checked on the grants (test_production_snowflake_setup.py)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with open_marts(served.snowflake) as con:
        assert isinstance(con, SnowflakeSession)
        assert con.connection.user == REPORTING_USER
        (customers,) = con.execute("select count(*) from marts.dim_customer").fetchone()
    assert customers == len(served.built.rows["customer"])
    logins = [record.getMessage() for record in caplog.records if "login-request" in record.getMessage()]
    assert len(logins) == 1
    assert f"roleName={REPORTING_ROLE}" in logins[0] and f"warehouse={REPORTING_WAREHOUSE}" in logins[0]
    parameters = connection_parameters(served.snowflake, "reporting")
    assert parameters["private_key_file"] == served.reporting_key != served.built.private_key
    assert "password" not in parameters


def _pdf_text(data: bytes) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_same_statements_are_issued_and_rendered_on_both(served):
    from finefinance_platform.delivery.issues import canonical_content, load_issued_month
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.delivery.statement import render

    for month_text in MONTHS:
        month = dt.date.fromisoformat(month_text)
        with open_marts(served.duckdb) as duck, open_marts(served.snowflake) as snow:
            on_duckdb, on_snowflake = load_issued_month(duck, month), load_issued_month(snow, month)
        assert len(on_snowflake) == len(on_duckdb) > 100
        assert [(s.customer_id, canonical_content(s), s.issue) for s in on_snowflake] == [
            (s.customer_id, canonical_content(s), s.issue) for s in on_duckdb
        ]
        # the money, against the raw rows counted here: credits and debits of every account
        booked = [
            r
            for r in served.built.rows["transaction"]
            if r["status"] == "completed" and r["booked_at"].astimezone(dt.UTC).date().replace(day=1) == month
        ]
        for statement in on_snowflake:
            for account in statement.accounts:
                credits = sum((r["amount"] for r in booked if r["receiver_account_id"] == account.account_id), D0)
                debits = sum((r["amount"] for r in booked if r["sender_account_id"] == account.account_id), D0)
                assert (account.total_credits, account.total_debits) == (credits, debits)
                assert account.closing_balance == account.opening_balance + credits - debits
        mine = next(s for s in on_snowflake if s.customer_id == served.customer_id)
        twin = next(s for s in on_duckdb if s.customer_id == served.customer_id)
        for fmt in ("pdf", "csv"):
            assert render(mine, fmt) == render(twin, fmt)
        assert _pdf_text(render(mine, "pdf")) == _pdf_text(render(twin, "pdf"))
        assert f"{mine.accounts[0].closing_balance:,.2f}" in _pdf_text(render(mine, "pdf"))


def _dashboard_queries(served) -> dict[str, tuple]:
    from finefinance_platform.access.policy import CustomerScope

    month = dt.date.fromisoformat(MONTHS[-1])
    advisor, everyone = CustomerScope(advisor_id=served.advisor_id), CustomerScope(everyone=True)
    return {
        "closed_months": (),
        "customers": (advisor,),
        "customer_advisor": (served.customer_id,),
        "risk_table": (month, advisor),
        "risk_distribution": (month,),
        "advisor_portfolios": (month,),
        "advisor_portfolios ": (month, served.advisor_id),
        "upgrade_candidates": (month, served.advisor_id),
        "budget_support": (month, served.advisor_id),
        "kpi_growth": (),
        "customers_per_profile": (),
        "transactions_per_category": (),
        "customer_statement_months": (served.customer_id,),
        "statement_versions": (served.customer_id, month),
        "customers  ": (everyone,),
    }


def test_the_dashboard_queries_answer_the_same_on_both(served):
    from finefinance_platform.delivery.dashboard import queries
    from finefinance_platform.delivery.serving import open_marts

    with open_marts(served.duckdb) as duck, open_marts(served.snowflake) as snow:
        for name, args in _dashboard_queries(served).items():
            query = getattr(queries, name.strip())
            on_duckdb, on_snowflake = query(duck, *args), query(snow, *args)
            if isinstance(on_duckdb, pd.DataFrame):
                assert len(on_duckdb) > 0 or name.strip() in ("upgrade_candidates", "budget_support"), name
                pd.testing.assert_frame_equal(on_snowflake, on_duckdb, check_dtype=False, rtol=1e-9, obj=name)
            else:
                assert on_duckdb and on_snowflake == on_duckdb, name
        portfolios = queries.advisor_portfolios(snow, dt.date.fromisoformat(MONTHS[-1]))
    # a total against the raw rows: the money the bank's accounts hold at the end of the last month
    # is what came in from outside minus what went out (transfers between accounts cancel)
    month_end = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    booked = [r for r in served.built.rows["transaction"] if r["status"] == "completed" and r["booked_at"] < month_end]
    held = sum((r["amount"] for r in booked if r["receiver_account_id"]), D0) - sum(
        (r["amount"] for r in booked if r["sender_account_id"]), D0
    )
    assert portfolios["money_held"].sum() == pytest.approx(float(held), abs=0.005)


def _log_rows(settings, since: int) -> list[tuple]:
    """The access log's rows after the first `since`, oldest first, without their time."""
    from finefinance_platform.access.access_log import read

    rows = list(reversed(read(settings)))[since:]
    return [tuple(value for name, value in vars(row).items() if name != "accessed_at") for row in rows]


def test_a_signed_in_customer_downloads_their_statement_over_http(served):
    from fastapi.testclient import TestClient

    from finefinance_platform.delivery.http_service import create_app
    from finefinance_platform.identity.cli import ensure_identity
    from finefinance_platform.identity.provider import (
        DemoUser,
        EmbeddedIdentityProvider,
        advisor_username,
        customer_username,
    )

    ensure_identity(served.duckdb)
    provider = EmbeddedIdentityProvider(served.duckdb)
    try:
        customer = DemoUser(customer_username(served.customer_id), "customer", served.customer_id, "A Customer")
        advisor = DemoUser(advisor_username(served.advisor_id), "advisor", served.advisor_id, "An Advisor")
        provider.ensure_users([customer, advisor])
        tokens = {user.role: provider.password_token(user.username)["access_token"] for user in (customer, advisor)}
        answers, logs = {}, {}
        for name, settings in (("duckdb", served.duckdb), ("snowflake", served.snowflake)):
            since = len(_log_rows(settings, 0))
            with TestClient(create_app(settings)) as client:
                as_customer = {"Authorization": f"Bearer {tokens['customer']}"}
                responses = [
                    client.get("/statements", headers=as_customer),
                    client.get("/statements/2025-02.pdf", headers=as_customer),
                    client.get("/statements/2025-01.csv?version=1", headers=as_customer),
                    client.get("/statements/2024-12.pdf", headers=as_customer),  # no statement then
                    client.get("/statements", headers={"Authorization": f"Bearer {tokens['advisor']}"}),
                    client.get("/statements/2025-02.csv"),  # nobody signed in
                ]
            answers[name] = [(r.status_code, r.content) for r in responses]
            logs[name] = _log_rows(settings, since)
    finally:
        provider.stop()

    assert [status for status, _ in answers["snowflake"]] == [200, 200, 200, 404, 403, 401]
    assert answers["snowflake"] == answers["duckdb"]
    listing = json.loads(answers["snowflake"][0][1])
    assert [entry["month"] for entry in listing["statements"]] == ["2025-02", "2025-01"]
    assert answers["snowflake"][1][1].startswith(b"%PDF")
    # the same decisions, written to Snowflake's audit.access_log as to the local log
    assert logs["snowflake"] == logs["duckdb"]
    assert [(row[2], row[5]) for row in logs["snowflake"]] == [
        ("list_statements", "allowed"),
        ("download_pdf", "allowed"),
        ("download_csv", "allowed"),
        ("download_pdf", "denied"),
        ("list_statements", "denied"),
        ("download_csv", "denied"),
    ]
    assert {row[3] for row in logs["snowflake"][:4]} == {served.customer_id}


@contextmanager
def environment_of(served, name: str, monkeypatch) -> Iterator[pytest.MonkeyPatch]:
    """Only the platform's variables of warehouse `name`, as `finefinance` would run there; yields
    the patch, undone on leaving."""
    with monkeypatch.context() as patch:
        for variable in list(os.environ):
            if variable.startswith("FINEFINANCE_"):
                patch.delenv(variable)
        for variable, value in served.environments[name].items():
            patch.setenv(variable, value)
        yield patch


def test_an_advisor_browses_their_book_in_the_dashboards(served, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from finefinance_platform.delivery.dashboard import APP

    claims = {
        "is_logged_in": True,
        "sub": f"advisor-{served.advisor_id[:8]}",
        "name": "An Advisor",
        "role": "advisor",
        "advisor_id": served.advisor_id,
        # an identity token's times: the dashboards end a session whose token has expired
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    shown, logs = {}, {}
    for name, settings in (("duckdb", served.duckdb), ("snowflake", served.snowflake)):
        since = len(_log_rows(settings, 0))
        # the app reads its settings from the environment, as `finefinance dashboard` runs it
        with environment_of(served, name, monkeypatch):
            app = AppTest.from_file(str(APP), default_timeout=120)
            app.user = claims
            app.run()
            app.switch_page("pages/advisor_portfolio.py")
            app.run()
        assert not app.exception, [e.value for e in app.exception]
        shown[name] = (
            {metric.label: metric.value for metric in app.metric},
            [element.value for element in app.subheader],
            [frame.value.to_dict("list") for frame in app.dataframe],
        )
        logs[name] = _log_rows(settings, since)
    metrics, subheaders, frames = shown["snowflake"]
    assert int(metrics["Customers"]) == sum(
        1 for c in served.built.rows["customer"] if c["advisor_id"] == served.advisor_id
    )
    assert subheaders[0].endswith("February 2025")
    assert shown["snowflake"] == shown["duckdb"]
    assert logs["snowflake"] == logs["duckdb"] and ("view_portfolio", "allowed") in [
        (r[2], r[5]) for r in logs["snowflake"]
    ]


def test_the_cli_and_the_statement_documents_on_snowflake_and_an_fsspec_store(served, monkeypatch, tmp_path):
    from click.testing import CliRunner
    from dagster import AssetSelection, materialize

    from finefinance_platform.cli import cli
    from finefinance_platform.delivery.assets import every_customer_has_a_statement, statement_documents
    from finefinance_platform.warehouse import WarehouseResource

    store = f"file://{tmp_path / 'object-store' / 'statements'}"
    written = {}
    for name in ("duckdb", "snowflake"):
        with environment_of(served, name, monkeypatch) as patch:
            output = tmp_path / f"{name}.csv"
            result = CliRunner().invoke(
                cli,
                ["statement", "--customer-id", served.customer_id, "--month", "2025-02", "--format", "csv",
                 "--output", str(output)],
                catch_exceptions=False,
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            written[name] = output.read_bytes()
            if name == "duckdb":
                continue
            # every statement of both months into the object store, from Snowflake, then the check
            patch.setenv("FINEFINANCE_STATEMENTS_URL", store)
            for month in ("2025-01", "2025-02"):
                result = CliRunner().invoke(cli, ["statements", "export", "--month", month], catch_exceptions=False)
                assert result.exit_code == 0 and store in result.output, result.output
            check = materialize(
                [statement_documents(), every_customer_has_a_statement],
                resources={"warehouse": WarehouseResource(kind="snowflake")},
                selection=AssetSelection.checks(every_customer_has_a_statement),
            )
            (passed,) = check.get_asset_check_evaluations()
            # one object gone: the check names it
            (tmp_path / "object-store" / "statements" / "2025-02" / f"{served.customer_id}.pdf").unlink()
            check = materialize(
                [statement_documents(), every_customer_has_a_statement],
                resources={"warehouse": WarehouseResource(kind="snowflake")},
                selection=AssetSelection.checks(every_customer_has_a_statement),
                raise_on_error=False,
            )
            (failed,) = check.get_asset_check_evaluations()

    assert written["snowflake"] == written["duckdb"]
    theirs = {r["account_id"] for r in served.built.rows["account"] if r["customer_id"] == served.customer_id}
    lines = written["snowflake"].decode().splitlines()[1:]
    assert lines and {line.split(",")[0] for line in lines} <= theirs
    # who must have a statement, from the raw accounts: an account open at some point of the month
    accounts = {
        (month, r["customer_id"])
        for r in served.built.rows["account"]
        for month, start in (("2025-01", dt.date(2025, 1, 1)), ("2025-02", dt.date(2025, 2, 1)))
        if r["open_date"] < add_months(start, 1) and (r["closed_date"] is None or r["closed_date"] >= start)
    }
    assert passed.passed and passed.metadata["missing_files"].value == 0
    assert passed.metadata["customers_expected"].value == len(accounts)
    folder = tmp_path / "object-store" / "statements" / "2025-01"
    assert (
        len(list(folder.glob("*.pdf")))
        == len(list(folder.glob("*.csv")))
        == len({customer for month, customer in accounts if month == "2025-01"})
    )
    assert not failed.passed and failed.metadata["missing_sample"].value == f"2025-02/{served.customer_id}.pdf"
    # the operator's reads were logged in Snowflake's audit.access_log
    logged = [(row[2], row[5], row[6]) for row in _log_rows(served.snowflake, 0)]
    assert ("download_csv", "allowed", "cli") in logged
    assert logged.count(("export_statements", "allowed", "cli")) == 2
