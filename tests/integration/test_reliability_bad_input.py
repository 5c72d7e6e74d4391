"""Bad input (issue 7): a catalogue of bad source rows, each caught.

The operational database's constraints reject most of these, so they are put where they can arrive:
straight into the raw tables of a copy of the XS warehouse, in one load with a good row, as a source
without those constraints (or an at-least-once redelivery) would deliver them. Then the models are
built for every month in one dbt run, as a backfill does. Each bad row either lands in
intermediate.quarantined_rows with its reason, or is absorbed (a redelivery counts once), or fails
a check that names the count; the good row of the same load flows; no mart holds a bad row; nothing
crashes (every dbt test that guards money still passes).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from decimal import Decimal

import duckdb
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from dagster import AssetCheckSeverity
from helpers.dbt_runs import RAW_TABLES, run_dbt

from finefinance_platform.checks.quarantine import describe_quarantine, quarantine_is_empty
from finefinance_platform.checks.reconciliation import (
    _raw_month_sql,
    balance_table_agrees,
    kpis_match_transactions,
)
from finefinance_platform.months import add_months
from finefinance_platform.settings import load_settings
from finefinance_platform.source.tables import SOURCE_TABLES_BY_NAME
from finefinance_platform.warehouse import WarehouseResource

MONTHS = [add_months(XS_FIRST_MONTH, i) for i in range(XS_MONTHS)]
LOAD_ID = "at-least-once-batch"
NOW = dt.datetime.now(dt.UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def insert(con, table: str, rows: list[dict]) -> None:
    """Append rows as one load would (dlt's metadata columns filled where the raw table has them)."""
    existing = {c[0] for c in con.execute(f"select * from raw.{table} limit 0").description}
    for row in rows:
        row = {"_dlt_load_id": LOAD_ID, "_dlt_id": new_id(), "updated_at": NOW, **row}
        if table == "transaction":
            row = {"created_at": NOW, "currency": "EUR", "description": "injected", **row}
        row = {name: value for name, value in row.items() if name in existing or not name.startswith("_dlt")}
        names = ", ".join(f'"{name}"' for name in row)
        con.execute(f"insert into raw.{table} ({names}) values ({', '.join('?' for _ in row)})", list(row.values()))


def _columns(table: str) -> str:
    return ", ".join(f'"{name}"' for name in RAW_TABLES[table])


def _one_row(con, sql: str, params=()) -> dict:
    cursor = con.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


class Catalogue:
    """The bad rows, one kind each, with what must become of them."""

    def __init__(self, con):
        first, second = con.execute(
            "select account_id, customer_id, open_date from raw.account where account_type = 'normal' "
            "and open_date < ? order by account_id limit 2",
            [MONTHS[0]],
        ).fetchall()
        self.account, self.customer, self.open_date = first
        self.other_account = second[0]
        self.existing = _one_row(
            con,
            f"select {_columns('transaction')} from raw.transaction where status = 'completed' "
            "and sender_account_id is not null order by transaction_id limit 1",
        )
        self.month_end = add_months(MONTHS[2], 1) - dt.timedelta(days=1)
        self.balance = _one_row(
            con,
            f"select {_columns('balance')} from raw.balance where balance_date = ? order by account_id limit 1",
            [self.month_end],
        )
        self.quarantined: set[tuple[str, str, str]] = set()
        self.kinds: list[str] = []
        self.good_transaction = new_id()

    def transaction(self, kind: str, reason: str | None, **row) -> str:
        values = {
            "transaction_id": new_id(), "sender_account_id": self.account, "receiver_account_id": None,
            "counterparty": "Shop", "transaction_date": noon(MONTHS[3] + dt.timedelta(days=4)),
            "amount": Decimal("19.99"), "category": "card_payment", "status": "completed",
        }  # fmt: skip
        values.update(row)
        if "booked_at" not in row:  # booked when made, once completed
            values["booked_at"] = values["transaction_date"] if values["status"] == "completed" else None
        self.rows.setdefault("transaction", []).append(values)
        self.kinds.append(kind)
        if reason:
            self.quarantined.add(("transaction", values["transaction_id"], reason))
        return values["transaction_id"]

    def other(self, kind: str, table: str, key: str, reason: str, **row) -> None:
        self.rows.setdefault(table, []).append(row)
        self.kinds.append(kind)
        self.quarantined.add((table, key, reason))

    def build(self) -> dict[str, list[dict]]:
        self.rows: dict[str, list[dict]] = {}
        t = self.transaction
        t("zero amount", "amount_not_positive", amount=Decimal("0"))
        t("negative amount", "amount_not_positive", amount=Decimal("-25.00"))
        t("NULL amount", "amount_not_positive", amount=None)
        t("unknown category", "unknown_category", category="lottery")
        t("unknown status", "unknown_status", status="reversed")
        t("both account sides NULL", "no_internal_account", sender_account_id=None)
        t("sender = receiver", "sender_is_receiver", receiver_account_id=self.account)
        t("an account that does not exist", "unknown_account", receiver_account_id=new_id(), counterparty=None)
        t("currency different from the account's", "currency_mismatch", currency="USD")
        t(
            "before its account opened",
            "before_account_opened",
            transaction_date=noon(self.open_date - dt.timedelta(days=10)),
        )
        t("future-dated", "future_dated", transaction_date=NOW + dt.timedelta(days=30))
        t("NULL transaction date", "missing_transaction_date", transaction_date=None)
        t("completed but never booked", "completed_not_booked", booked_at=None)
        t("pending but booked", "booked_not_completed", status="pending", booked_at=NOW - dt.timedelta(days=1))
        t("booked before it was made", "booked_before_made", booked_at=noon(MONTHS[3]))
        # at-least-once: the same row delivered again, and an older version arriving late
        t("duplicate key delivered twice", None, **self.existing)
        t(
            "older version redelivered",
            None,
            **{
                **self.existing,
                "amount": Decimal("99999.00"),
                "updated_at": self.existing["updated_at"] - dt.timedelta(days=3),
            },
        )
        # an account whose customer does not exist, and a payment from it (quarantined in turn)
        orphan_account = new_id()
        self.other(
            "an account of an unknown customer",
            "account",
            orphan_account,
            "unknown_customer",
            account_id=orphan_account,
            customer_id=new_id(),
            account_type="normal",
            currency="EUR",
            open_date=MONTHS[0],
        )
        t("a transaction of a quarantined account", "unknown_account", sender_account_id=orphan_account)
        customer = new_id()
        self.other(
            "unknown profile level",
            "customer",
            customer,
            "unknown_profile_level",
            customer_id=customer,
            firstname="Eve",
            surname="Platinum",
            email=f"{customer}@example.com",
            signup_date=MONTHS[1],
            profile_level="platinum",
        )
        customer = new_id()
        self.other(
            "NULL sign-up date",
            "customer",
            customer,
            "missing_signup_date",
            customer_id=customer,
            firstname="Nul",
            surname="Date",
            email=f"{customer}@example.com",
            signup_date=None,
            profile_level="gold",
        )
        loan = new_id()
        self.other(
            "a loan that ends before it starts",
            "loan",
            loan,
            "ends_before_start",
            loan_id=loan,
            customer_id=self.customer,
            amount=Decimal("90000"),
            interest_rate=Decimal("0.04"),
            start_date=MONTHS[2],
            end_date=MONTHS[1],
            status="active",
        )
        investment = new_id()
        self.other(
            "an investment closed before it opened",
            "investment",
            investment,
            "ends_before_start",
            investment_id=investment,
            customer_id=self.customer,
            product_name="PEA",
            amount=Decimal("50000"),
            opened_at=MONTHS[3],
            closed_at=MONTHS[2],
            status="closed",
        )
        card = new_id()
        self.other(
            "a card with a negative fee",
            "credit_card",
            card,
            "invalid_fee",
            card_id=card,
            customer_id=self.customer,
            amount_limit=Decimal("1000"),
            fee=Decimal("-4.90"),
            start_date=MONTHS[0],
            status="active",
        )
        ghost = new_id()
        self.other(
            "a balance of an account that does not exist",
            "balance",
            f"{ghost}/{self.month_end}",
            "unknown_account",
            account_id=ghost,
            balance_date=self.month_end,
            balance=Decimal("10"),
        )
        # a month-end balance that disagrees with the transactions: reported by balance_table_agrees
        self.rows["balance"].append({**self.balance, "balance": self.balance["balance"] + 100, "updated_at": NOW})
        self.kinds.append("a balance row that disagrees with the transactions")
        # the good row of the same load
        self.rows["transaction"].append({
            "transaction_id": self.good_transaction, "sender_account_id": self.account,
            "receiver_account_id": self.other_account, "counterparty": None,
            "transaction_date": noon(MONTHS[3] + dt.timedelta(days=6)), "amount": Decimal("42.42"),
            "category": "transfer", "status": "completed",
            "booked_at": noon(MONTHS[3] + dt.timedelta(days=6)),
        })  # fmt: skip
        return self.rows


@pytest.fixture(scope="module")
def bad_load(xs_platform, tmp_path_factory):
    """The XS warehouse with the catalogue injected into raw, rebuilt in one dbt run."""
    import shutil

    warehouse = tmp_path_factory.mktemp("bad_input") / "warehouse.duckdb"
    shutil.copy(xs_platform["warehouse"], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # dlt copies the source's NOT NULL constraints into raw; a source without them (or Airbyte's
        # raw tables, all nullable) can deliver NULLs: lift them to inject those rows
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'raw' "
            "and is_nullable = 'NO'"
        ).fetchall():
            con.execute(f'alter table raw."{table}" alter column "{column}" drop not null')
        catalogue = Catalogue(con)
        for table, rows in catalogue.build().items():
            insert(con, table, rows)
    window = {"month_start": MONTHS[0].isoformat(), "month_end": add_months(MONTHS[-1], 1).isoformat()}
    result = run_dbt(warehouse, "build", "--exclude-resource-type", "unit_test", vars=window)
    return warehouse, catalogue, result


def _rows(db, sql, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_the_catalogue_has_at_least_twelve_kinds(bad_load):
    _warehouse, catalogue, _result = bad_load
    assert len(set(catalogue.kinds)) == len(catalogue.kinds) >= 12


def test_nothing_crashes_and_every_money_test_passes(bad_load):
    _warehouse, _catalogue, result = bad_load
    assert result.returncode == 0
    assert "ERROR=0" in result.stdout


def test_each_bad_row_is_quarantined_with_its_reason(bad_load):
    warehouse, catalogue, _result = bad_load
    quarantined = set(_rows(warehouse, "select table_name, row_key, reason from intermediate.quarantined_rows"))
    assert quarantined == catalogue.quarantined


def test_the_good_row_of_the_same_load_flows(bad_load):
    warehouse, catalogue, _result = bad_load
    assert _rows(
        warehouse, "select amount from marts.fct_transaction where transaction_id = ?", [catalogue.good_transaction]
    ) == [(Decimal("42.42"),)]
    lines = _rows(
        warehouse,
        "select account_id, direction from marts.fct_statement_line where transaction_id = ? order by direction",
        [catalogue.good_transaction],
    )
    assert lines == [(catalogue.other_account, "credit"), (catalogue.account, "debit")]


def test_no_mart_holds_a_bad_row_and_the_rest_equals_a_clean_build(bad_load, xs_platform):
    warehouse, catalogue, _result = bad_load
    clean = xs_platform["warehouse"]
    good = catalogue.good_transaction
    # identical to the clean build, except what the good row adds
    comparisons = {
        "marts.dim_customer": "", "marts.dim_account": "", "marts.dim_product": "", "marts.dim_advisor": "",
        "marts.dim_date": "", "snapshots.snp_customer": "",
        "marts.fct_transaction": f"where transaction_id <> '{good}'",
        "marts.fct_statement_line": f"where account_id not in ('{catalogue.account}', '{catalogue.other_account}')",
        "marts.fct_monthly_statement": f"where account_id not in ('{catalogue.account}', '{catalogue.other_account}')",
    }  # fmt: skip
    for table, where in comparisons.items():
        sql = f"select count(*), sum(hash(t)::hugeint) from (select * from {table} {where}) as t"
        assert _rows(warehouse, sql) == _rows(clean, sql), table
    # the statements of the two accounts moved by exactly the good transfer, from its month on
    statement = (
        "select month_start, total_credits, total_debits, closing_balance from marts.fct_monthly_statement "
        "where account_id = ? order by month_start"
    )
    for account, sign in ((catalogue.account, -1), (catalogue.other_account, 1)):
        for (month, credits, debits, closing), (_, credits0, debits0, closing0) in zip(
            _rows(warehouse, statement, [account]), _rows(clean, statement, [account]), strict=True
        ):
            moved = Decimal("42.42") if month == MONTHS[3] else Decimal(0)
            assert (credits - credits0, debits - debits0) == ((moved, 0) if sign > 0 else (0, moved))
            assert closing - closing0 == (sign * Decimal("42.42") if month >= MONTHS[3] else 0)
    # not one bad key anywhere in the marts
    bad_keys = {key for _table, key, _reason in catalogue.quarantined}
    for table, column in [
        ("fct_transaction", "transaction_id"),
        ("fct_statement_line", "transaction_id"),
        ("dim_account", "account_id"),
        ("fct_monthly_statement", "account_id"),
        ("dim_customer", "customer_id"),
        ("fct_customer_month", "customer_id"),
        ("dim_product", "product_id"),
    ]:
        found = _rows(warehouse, f"select distinct {column} from marts.{table}")
        assert not bad_keys & {row[0] for row in found}, table
    # the redelivered transaction counts once, at its latest amount
    assert _rows(
        warehouse,
        "select count(*), sum(amount) from marts.fct_transaction where transaction_id = ?",
        [catalogue.existing["transaction_id"]],
    ) == [(1, catalogue.existing["amount"])]


def test_the_checks_name_the_counts(bad_load):
    warehouse, catalogue, _result = bad_load
    resource = WarehouseResource(settings=load_settings({**os.environ, "FINEFINANCE_DUCKDB_PATH": str(warehouse)}))

    quarantine = quarantine_is_empty(warehouse=resource)
    assert not quarantine.passed and quarantine.severity == AssetCheckSeverity.WARN
    total = len(catalogue.quarantined)
    assert quarantine.description.startswith(f"{total} rows quarantined: ")
    assert "transaction 16 (" in quarantine.description and "loan 1 (ends_before_start 1)" in quarantine.description
    assert quarantine.metadata["quarantined_rows"].value == total

    # the corrected balance, plus the month ends that the good transfer moved (the source's balance
    # rows were not written for it): each reported, none hidden
    moved = _rows(
        warehouse,
        "select count(*) from staging.stg_balance where account_id in (?, ?) and balance_date in "
        "(select cast(month_start + interval 1 month - interval 1 day as date) "
        "from marts.fct_monthly_statement where month_start >= ?)",
        [catalogue.account, catalogue.other_account, MONTHS[3]],
    )[0][0]
    balance = balance_table_agrees(warehouse=resource)
    assert not balance.passed and balance.description.startswith(f"{1 + moved} of ")
    assert balance.metadata["disagreements"].value == 1 + moved
    original = catalogue.balance["balance"]
    corrected = {
        "account_id": catalogue.balance["account_id"],
        "balance_date": str(catalogue.month_end),
        "source_balance": str(original + 100),
        "computed_balance": str(original),
    }
    assert corrected in balance.metadata["examples"].value

    # the money still adds up: every statement's arithmetic, over the whole history
    wrong = _rows(
        warehouse,
        "select count(*) from marts.fct_monthly_statement "
        "where opening_balance + total_credits - total_debits <> closing_balance",
    )
    assert wrong == [(0,)]
    assert kpis_match_transactions(warehouse=resource).passed


def test_a_redelivered_key_is_one_row_for_the_raw_check(bad_load, xs_platform):
    warehouse, catalogue, _result = bad_load
    sql = _raw_month_sql(SOURCE_TABLES_BY_NAME["transaction"])
    counted = sum(row[1] for row in _rows(warehouse, sql))
    clean = sum(row[1] for row in _rows(xs_platform["warehouse"], sql))
    new_keys = {row["transaction_id"] for row in catalogue.rows["transaction"]} - {catalogue.existing["transaction_id"]}
    assert counted == clean + len(new_keys)


def test_quarantine_description_is_readable():
    assert describe_quarantine([]) == "no row quarantined"
    assert describe_quarantine(
        [("loan", "ends_before_start", 1), ("transaction", "future_dated", 2), ("transaction", "unknown_status", 1)]
    ) == ("4 rows quarantined: loan 1 (ends_before_start 1); transaction 3 (future_dated 2, unknown_status 1)")
