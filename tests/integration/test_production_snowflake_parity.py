"""The same dbt project on DuckDB and on Snowflake (the fakesnow emulator): identical marts, and
people served from Snowflake exactly as from DuckDB.

One simulated source (XS customers: 200, over two months) is exported once to Parquet and loaded
into raw on both warehouses: DuckDB as dlt writes it (source columns + `_dlt_load_id`, `_dlt_id`,
exact decimals), Snowflake as Airbyte's destination-snowflake 4.x writes it (upper-case identifiers,
its four `_AIRBYTE_*` columns, every numeric column as FLOAT: the connector has no other number
type). `dbt build` then runs month by month on each (the second month takes the incremental paths:
month-window replace, snapshot merge) and every mart is compared row for row: same columns, same
rows, same numbers to the cent. The Snowflake side goes through dbt-snowflake and the Snowflake
connector with key-pair login, against fakesnow's server.

Before the export the source also gets boundary money (`_add_boundary_money`): the largest values
of its numeric types, amounts whose double lies just below them (0.29, 4.35, ...), and an account
with a year's worth of bookings (365) near numeric(14,2)'s limit, where summing doubles loses a
cent. Staging's casts must give the exact decimals back: the marts are compared with the values
computed here from the inserted rows (test_boundary_money_is_exact_on_snowflake).

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
from helpers.environment import collect_garbage_before_pages
from psycopg2.extras import execute_values
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


# Airbyte's destination-snowflake 4.x (typed tables, "direct load"): upper-case identifiers, its four
# metadata columns first, then the source columns by its type map: string and uuid VARCHAR, date
# DATE, timestamp with time zone TIMESTAMP_TZ, integer NUMBER(38,0), and numeric FLOAT (the
# connector has no setting for another number type): money arrives as the nearest double, and
# staging's casts to the source's decimal(p, s) round it back to the exact value.
AIRBYTE_METADATA = (
    ("_AIRBYTE_RAW_ID", "varchar not null"),
    ("_AIRBYTE_EXTRACTED_AT", "timestamp_tz not null"),
    ("_AIRBYTE_META", "variant not null"),
    ("_AIRBYTE_GENERATION_ID", "number(38,0)"),
)
AIRBYTE_TYPES = {"varchar": "varchar", "date": "date", "timestamptz": "timestamp_tz"}


def _airbyte_type(sql_type: str) -> str:
    return "float" if sql_type.startswith("decimal") else AIRBYTE_TYPES[sql_type]


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


# -- boundary money: values a double cannot hold, added to the simulated source --------------------

# the largest values of the source's money types (sql/postgres/001_operational_schema.sql)
TRANSACTION_MAX = decimal.Decimal("9999999999.99")  # transaction.amount, loan.amount: numeric(12, 2)
BALANCE_MAX = decimal.Decimal("999999999999.99")  # balance.balance, investment.amount: numeric(14, 2)
FEE_MAX = decimal.Decimal("999999.99")  # credit_card.fee: numeric(8, 2)
TRANSFER = decimal.Decimal("1234567890.12")
# amounts whose nearest double is just below them (0.29 is 0.28999999999999998...): a cast that
# truncated instead of rounding would lose their last cent
BELOW_THEIR_DOUBLE = tuple(decimal.Decimal(text) for text in ("0.29", "4.35", "1.15", "0.70", "0.57"))
# added to a balance near 1e12, each 0.06 is rounded up by half a unit of the double: a year of them
# puts a float running balance a cent off
SMALL_CREDIT = decimal.Decimal("0.06")
BOUNDARY_BOOKINGS = 365
BOUNDARY_IDS = uuid.UUID("8d3c4ad6-3f7e-4a55-9a31-0c7b5e2f9b10")


def _boundary_id(name: str) -> str:
    return str(uuid.uuid5(BOUNDARY_IDS, name))


def _at(minutes: int) -> dt.datetime:
    return dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


def _transaction(name, sender, receiver, amount, minutes, category, counterparty, description) -> dict:
    """A completed transaction as the simulator writes one: made and booked at the same instant."""
    at = _at(minutes)
    return {
        "transaction_id": _boundary_id(name),
        "sender_account_id": sender,
        "receiver_account_id": receiver,
        "counterparty": counterparty,
        "transaction_date": at,
        "amount": amount,
        "currency": "EUR",
        "description": description,
        "category": category,
        "status": "completed",
        "booked_at": at,
        "created_at": at,
        "updated_at": at,
    }


def _boundary_rows(advisor_id: str) -> dict[str, list[dict]]:
    """One diamant customer with two accounts opened on the first day and products at the limits of
    their types. The large account's 365 bookings fill the two months: 100 deposits of the largest
    amount, 8 transfers of 1,234,567,890.12 to the small account, then 0.06 credits and debits of
    the amounts below their double; a last deposit leaves it at numeric(14,2)'s largest balance."""
    customer, large, small = (_boundary_id(name) for name in ("customer", "large", "small"))
    opened, month_ends = dt.date(2025, 1, 1), (dt.date(2025, 1, 31), dt.date(2025, 2, 28))
    signed_up = _at(9 * 60)
    rows: dict[str, list[dict]] = {
        "customer": [{
            "customer_id": customer, "firstname": "Bound", "surname": "Ary", "email": "bound.ary@example.com",
            "signup_date": opened, "profile_level": "diamant", "advisor_id": advisor_id, "updated_at": signed_up,
        }],
        "account": [
            {"account_id": account, "customer_id": customer, "account_type": "normal", "currency": "EUR",
             "open_date": opened, "closed_date": None, "updated_at": signed_up}
            for account in (large, small)
        ],
    }  # fmt: skip
    step = (59 * 24 * 60 - 120) // (BOUNDARY_BOOKINGS - 1)  # minutes: one booking every ~4 hours
    transactions = []
    for i in range(BOUNDARY_BOOKINGS - 1):
        minutes = 60 + i * step
        if i < 100:
            row = (None, large, TRANSACTION_MAX, "deposit", "Cheque deposit", "Cheque deposit")
        elif i < 108:
            row = (large, small, TRANSFER, "transfer", None, "Savings transfer")
        elif i % 4 == 0:
            amount = BELOW_THEIR_DOUBLE[(i // 4) % len(BELOW_THEIR_DOUBLE)]
            row = (large, None, amount, "card_payment", "Carrefour", "Card payment")
        else:
            row = (None, large, SMALL_CREDIT, "reimbursement", "Assurance Maladie", "Reimbursement")
        transactions.append(_transaction(f"large-{i}", *row[:3], minutes, *row[3:]))
    net = sum((r["amount"] if r["receiver_account_id"] == large else -r["amount"] for r in transactions), D0)
    transactions.append(_transaction(
        "large-last", None, large, BALANCE_MAX - net, 60 + (BOUNDARY_BOOKINGS - 1) * step,
        "deposit", "Cheque deposit", "Cheque deposit",
    ))  # fmt: skip
    # the smallest amount, and 0.1 + 0.2 - 0.3, which is not 0 in doubles
    for name, amount, minutes in (("small-0", "0.01", 500), ("small-1", "0.10", 600), ("small-2", "0.20", 700)):
        transactions.append(_transaction(
            name, None, small, decimal.Decimal(amount), minutes, "reimbursement", "Mutuelle Générale", "Reimbursement"
        ))  # fmt: skip
    transactions.append(_transaction(
        "small-3", small, None, decimal.Decimal("0.30"), 40 * 24 * 60, "withdrawal", "ATM", "Cash withdrawal"
    ))  # fmt: skip
    rows["transaction"] = transactions

    # the balance rows the core system writes: 0 when the account opens, then each month end
    rows["balance"] = []
    for account in (large, small):
        rows["balance"].append(
            {"account_id": account, "balance_date": opened, "balance": D0, "currency": "EUR", "updated_at": signed_up}
        )
        for month_end in month_ends:
            written = dt.datetime.combine(month_end + dt.timedelta(days=1), dt.time(), dt.UTC)
            balance = sum((s for s, r in _sides(transactions, account) if r["booked_at"] < written), D0)
            rows["balance"].append(
                {"account_id": account, "balance_date": month_end, "balance": balance, "currency": "EUR",
                 "updated_at": written}
            )  # fmt: skip
    rows["loan"] = [
        {"loan_id": _boundary_id(f"loan-{i}"), "customer_id": customer, "amount": decimal.Decimal(amount),
         "interest_rate": decimal.Decimal(rate), "start_date": start, "end_date": end, "status": "active",
         "updated_at": _at(10 * 60 + i)}
        for i, (amount, rate, start, end) in enumerate((
            (TRANSACTION_MAX, "0.04350", opened, dt.date(2045, 1, 1)),
            ("0.01", "0.00001", dt.date(2025, 1, 2), dt.date(2026, 1, 2)),
            (TRANSFER, "0.99999", dt.date(2025, 2, 3), dt.date(2030, 2, 3)),
        ))
    ]  # fmt: skip
    rows["investment"] = [
        {"investment_id": _boundary_id(f"investment-{i}"), "customer_id": customer, "product_name": product,
         "amount": decimal.Decimal(amount), "opened_at": opened, "closed_at": None, "status": "active",
         "updated_at": _at(11 * 60 + i)}
        for i, (product, amount) in enumerate((("PEA", BALANCE_MAX), ("life insurance", "0.29")))
    ]  # fmt: skip
    rows["credit_card"] = [
        {"card_id": _boundary_id(f"card-{i}"), "customer_id": customer, "amount_limit": decimal.Decimal(limit),
         "fee": decimal.Decimal(fee), "start_date": opened, "end_date": dt.date(2028, 1, 1), "status": "active",
         "updated_at": _at(12 * 60 + i)}
        for i, (limit, fee) in enumerate(((TRANSACTION_MAX, FEE_MAX), ("1.15", "4.35")))
    ]  # fmt: skip
    return rows


def _sides(transactions: list[dict], account: str) -> Iterator[tuple[decimal.Decimal, dict]]:
    """(signed amount, row) of each transaction of `account`: + credited, - debited."""
    for row in transactions:
        if row["receiver_account_id"] == account:
            yield row["amount"], row
        elif row["sender_account_id"] == account:
            yield -row["amount"], row


def _add_boundary_money(dsn: str) -> dict[str, list[dict]]:
    """Insert `_boundary_rows` into the source, through SQL as any writer would; returns them."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("select advisor_id from crm.advisor order by advisor_id limit 1")
        rows = _boundary_rows(str(cursor.fetchone()[0]))
        for table in ("customer", "account", "transaction", "balance", "loan", "investment", "credit_card"):
            columns = list(rows[table][0])
            execute_values(
                cursor,
                f"insert into {SOURCE_TABLES_BY_NAME[table].qualified_name} ({', '.join(columns)}) values %s",
                [tuple(row[name] for name in columns) for row in rows[table]],
            )
    return rows


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
    boundary: dict[str, list[dict]]  # the rows _add_boundary_money inserted, by table


@pytest.fixture(scope="module")
def built_warehouses(make_source_db, snowflake_emulator, tmp_path_factory):
    """Both warehouses loaded with the same raw data and built month by month, side by side."""
    work = tmp_path_factory.mktemp("parity")
    dsn = make_source_db("parity")
    simulator.simulate(dsn, customers=200, months=len(MONTHS), seed=17, start=dt.date.fromisoformat(MONTHS[0]))
    boundary = _add_boundary_money(dsn)
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
    return Built(duckdb_file, snowflake_emulator, private_key, rows, masking_output, boundary)


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
            "select table_name, column_name, data_type "
            f"from {DATABASE}.information_schema.columns "
            "where table_schema = 'RAW' order by table_name, ordinal_position"
        ).fetchall()
        (count,) = cursor.execute(f"select count(*) from {DATABASE}.raw.transaction").fetchone()
        smallest = decimal.Decimal("0.29")
        (stored,) = cursor.execute(
            f"select amount from {DATABASE}.raw.transaction where transaction_id = %s",
            [next(r["transaction_id"] for r in built.boundary["transaction"] if r["amount"] == smallest)],
        ).fetchone()
    finally:
        connection.close()
    kinds: dict[str, dict[str, str]] = {}
    for table, name, kind in columns:
        kinds.setdefault(table, {})[name] = kind
    names = list(kinds["TRANSACTION"])
    assert names[:4] == [name for name, _ in AIRBYTE_METADATA]
    assert names[4:] == [name.upper() for name in RAW_TABLES["transaction"]]
    # every numeric column of the source is FLOAT, as destination-snowflake 4.x writes it: raw holds
    # the double nearest to each amount (0.29 is 0.28999999999999998...), not the amount
    numeric = [(t.upper(), c.upper()) for t, cs in RAW_TABLES.items() for c, kind in cs.items() if "decimal" in kind]
    assert len(numeric) == 7
    assert {column: kinds[column[0]][column[1]] for column in numeric} == dict.fromkeys(numeric, "FLOAT")
    assert isinstance(stored, float) and decimal.Decimal(stored) < smallest
    assert count == len(built.rows["transaction"])


def _active_amount(products: list[dict], start: str, end: str, month: dt.date) -> decimal.Decimal:
    """The amounts of the products active in `month`: started before it ended, not ended before it began."""
    return sum((p["amount"] for p in products if p[start] < add_months(month, 1) and (p[end] or month) >= month), D0)


def _boundary_expected(boundary: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """What the marts must show for the boundary rows, computed here from the inserted rows."""
    transactions = boundary["transaction"]
    accounts = sorted(row["account_id"] for row in boundary["account"])
    lines, statements, customer_months = [], [], []
    closing = dict.fromkeys(accounts, D0)
    for month in (dt.date.fromisoformat(text) for text in MONTHS):
        month_end_balance = withdrawals = D0
        for account in accounts:
            booked = sorted(
                (side for side in _sides(transactions, account) if side[1]["booked_at"].date().replace(day=1) == month),
                key=lambda side: (side[1]["booked_at"], side[1]["transaction_id"]),
            )
            opening = running = closing[account]
            for number, (signed, row) in enumerate(booked, 1):
                running += signed
                lines.append((account, month, number, row["transaction_id"], abs(signed), signed, running))
            credits = sum((signed for signed, _ in booked if signed > 0), D0)
            debits = -sum((signed for signed, _ in booked if signed < 0), D0)
            closing[account] = opening + credits - debits
            statements.append((account, month, opening, credits, debits, closing[account]))
            month_end_balance += closing[account]
            # a transfer between the customer's own two accounts is no withdrawal
            withdrawals += sum((-signed for signed, row in booked if signed < 0 and not row["receiver_account_id"]), D0)
        customer_months.append((
            month, month_end_balance, withdrawals,
            _active_amount(boundary["loan"], "start_date", "end_date", month),
            _active_amount(boundary["investment"], "opened_at", "closed_at", month),
        ))  # fmt: skip
    products = sorted(
        [(r["loan_id"], r["amount"], r["interest_rate"], None) for r in boundary["loan"]]
        + [(r["investment_id"], r["amount"], None, None) for r in boundary["investment"]]
        + [(r["card_id"], r["amount_limit"], None, r["fee"]) for r in boundary["credit_card"]]
    )
    balances = sorted((r["account_id"], r["balance_date"], r["balance"]) for r in boundary["balance"])
    return {
        "lines": sorted(lines),  # by account, month, line number
        "statements": statements,
        "customer_months": customer_months,
        "products": products,
        "balances": balances,
    }


def _boundary_queries(boundary: dict[str, list[dict]]) -> dict[str, str]:
    accounts = ", ".join(f"'{row['account_id']}'" for row in boundary["account"])
    customer = boundary["customer"][0]["customer_id"]
    return {
        "lines": "select account_id, month_start, line_number, transaction_id, amount, signed_amount, "
        f"running_balance from marts.fct_statement_line where account_id in ({accounts}) "
        "order by account_id, month_start, line_number",
        "statements": "select account_id, month_start, opening_balance, total_credits, total_debits, "
        f"closing_balance from marts.fct_monthly_statement where account_id in ({accounts}) "
        "order by month_start, account_id",
        "customer_months": "select month_start, month_end_balance, withdrawals, loans_outstanding, "
        f"investments_held from marts.fct_customer_month where customer_id = '{customer}' order by month_start",
        "products": "select product_id, amount, interest_rate, monthly_fee from marts.dim_product "
        f"where customer_id = '{customer}' order by product_id",
        "balances": "select account_id, balance_date, balance from staging.stg_balance "
        f"where account_id in ({accounts}) order by account_id, balance_date",
    }


def test_boundary_money_is_exact_on_snowflake(built_warehouses):
    built, boundary = built_warehouses, built_warehouses.boundary
    transactions = boundary["transaction"]
    large = _boundary_id("large")
    # the rows test what they should: each of these amounts' double is below it (a truncating cast
    # loses a cent), and the large account's year summed in doubles, in booking order as a running
    # balance is, ends a cent away from the exact balance, numeric(14,2)'s largest
    assert all(decimal.Decimal(float(amount)) < amount for amount in BELOW_THEIR_DOUBLE)
    year = [signed for signed, _ in sorted(_sides(transactions, large), key=lambda side: side[1]["booked_at"])]
    assert len(year) == BOUNDARY_BOOKINGS and max(year) == TRANSACTION_MAX
    in_doubles = 0.0
    for signed in year:
        in_doubles += float(signed)
    assert sum(year, D0) == BALANCE_MAX != round(decimal.Decimal(in_doubles), 2)
    # what the source handed to both warehouses is what was inserted
    exported = {row["transaction_id"]: row["amount"] for row in built.rows["transaction"]}
    assert [exported[row["transaction_id"]] for row in transactions] == [row["amount"] for row in transactions]

    expected = _boundary_expected(boundary)
    assert len(expected["lines"]) == BOUNDARY_BOOKINGS + 8 + 4  # the transfers are lines of both accounts
    month_ends = {(r[0], r[1].replace(day=28 if r[1].month == 2 else 31), r[5]) for r in expected["statements"]}
    assert month_ends <= set(expected["balances"])  # the source's balance table agrees with its transactions
    connection = _connect(built.emulator, built.private_key)
    try:
        cursor = connection.cursor()
        cursor.execute(f"use database {DATABASE}")
        on_snowflake = {name: cursor.execute(sql).fetchall() for name, sql in _boundary_queries(boundary).items()}
    finally:
        connection.close()
    on_duckdb = {
        name: [tuple(row.values()) for row in read_rows(built.duckdb_file, sql)]
        for name, sql in _boundary_queries(boundary).items()
    }
    for name, rows in expected.items():
        assert [tuple(row) for row in on_snowflake[name]] == rows, name
        assert on_duckdb[name] == rows, name


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
    from finefinance_platform.production.snowflake import open_session
    from finefinance_platform.production.snowflake_setup import apply_setup
    from finefinance_platform.serving.publish import publish_serving_copy
    from finefinance_platform.settings import load_settings
    from finefinance_platform.statements.issuing.issue import issue_month

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
    from finefinance_platform.production.snowflake import SnowflakeSession
    from finefinance_platform.production.snowflake_setup import REPORTING_ROLE, REPORTING_USER, REPORTING_WAREHOUSE
    from finefinance_platform.serving.marts import open_marts

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
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.statements.issuing.content import canonical_content
    from finefinance_platform.statements.issuing.issued import load_issued_month
    from finefinance_platform.statements.render import render

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
    from finefinance_platform.dashboards import queries
    from finefinance_platform.serving.marts import open_marts

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

    from finefinance_platform.api.service import create_app
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

    from finefinance_platform.dashboards import APP

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
    # `served`'s Dagster runs made some; conftest's hook does not see AppTest imported in this test only
    collect_garbage_before_pages()
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
    from finefinance_platform.settings import get_settings
    from finefinance_platform.statements.assets import every_customer_has_a_statement, statement_documents
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
                [statement_documents(get_settings()), every_customer_has_a_statement],
                resources={"warehouse": WarehouseResource(settings=get_settings())},
                selection=AssetSelection.checks(every_customer_has_a_statement),
            )
            (passed,) = check.get_asset_check_evaluations()
            # one object gone: the check names it
            (tmp_path / "object-store" / "statements" / "2025-02" / f"{served.customer_id}.pdf").unlink()
            check = materialize(
                [statement_documents(get_settings()), every_customer_has_a_statement],
                resources={"warehouse": WarehouseResource(settings=get_settings())},
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
