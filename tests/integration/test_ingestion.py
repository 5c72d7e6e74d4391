"""dlt ingestion through Dagster: raw equals the source, updates merge, the source being down is clear."""

import uuid
from contextlib import closing
from decimal import Decimal

import duckdb
import psycopg2
import pytest
from dagster import AssetKey, materialize
from helpers.environment import platform_env

from finefinance_platform.ingestion import ingestion_resources
from finefinance_platform.ingestion.dlt_ingestion import raw_tables
from finefinance_platform.settings import get_settings
from finefinance_platform.source.tables import SOURCE_TABLES

ADVISOR, CUSTOMER, ACCOUNT, OTHER_ACCOUNT = (str(uuid.uuid4()) for _ in range(4))


def _fill_source(dsn: str) -> list[str]:
    transaction_ids = [str(uuid.uuid4()) for _ in range(6)]
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("insert into crm.advisor values (%s, 'Ada', 'Martin', 'Lyon', '2024-01-01')", (ADVISOR,))
        cur.execute(
            "insert into crm.customer values (%s, 'Léa', 'Dubois', 'lea@example.com', '2024-01-05', 'bronze', %s)",
            (CUSTOMER, ADVISOR),
        )
        cur.execute(
            "insert into banking.account values (%s, %s, 'normal', 'EUR', '2024-01-05', null)", (ACCOUNT, CUSTOMER)
        )
        cur.execute(
            "insert into banking.account values (%s, %s, 'LA', 'EUR', '2024-01-05', null)", (OTHER_ACCOUNT, CUSTOMER)
        )
        rows = [
            (transaction_ids[0], None, ACCOUNT, "ACME", "2024-01-25 09:00+00", "2500.00", "salary", "completed"),
            (transaction_ids[1], ACCOUNT, None, "Netflix", "2024-01-28 10:00+00", "13.49", "subscription", "completed"),
            (
                transaction_ids[2],
                ACCOUNT,
                OTHER_ACCOUNT,
                None,
                "2024-01-30 10:00+00",
                "500.00",
                "transfer",
                "completed",
            ),
            (transaction_ids[3], ACCOUNT, None, "Carrefour", "2024-01-31 23:30+00", "87.10", "card_payment", "pending"),
            (transaction_ids[4], ACCOUNT, None, "ATM", "2024-02-02 08:00+00", "60.00", "withdrawal", "failed"),
            (transaction_ids[5], None, ACCOUNT, "ACME", "2024-02-25 09:00+00", "2500.00", "salary", "completed"),
        ]
        cur.executemany(
            "insert into banking.transaction (transaction_id, sender_account_id, receiver_account_id, counterparty,"
            " transaction_date, amount, category, status, booked_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, case when %s = 'completed' then %s::timestamptz end)",
            [(*row, row[7], row[4]) for row in rows],
        )
        cur.execute("insert into banking.balance values (%s, '2024-01-31', 1986.51, 'EUR')", (ACCOUNT,))
        cur.execute(
            "insert into product.loan values (%s, %s, 12000, 0.045, '2024-01-10', '2027-01-10', 'active')",
            (str(uuid.uuid4()), CUSTOMER),
        )
        cur.execute(
            "insert into product.investment values (%s, %s, 'PEA', 3000, '2024-01-15', null, 'active')",
            (str(uuid.uuid4()), CUSTOMER),
        )
        cur.execute(
            "insert into product.credit_card values (%s, %s, 2000, 4.90, '2024-01-05', null, 'active')",
            (str(uuid.uuid4()), CUSTOMER),
        )
        conn.commit()
    return transaction_ids


def _ingest() -> None:
    result = materialize([raw_tables()], resources=ingestion_resources(get_settings()))
    assert result.success
    keys = {e.event_specific_data.materialization.asset_key for e in result.get_asset_materialization_events()}
    assert keys == {AssetKey(["raw", t.name]) for t in SOURCE_TABLES}


def _counts_and_sums(dsn: str, warehouse) -> tuple[dict, dict]:
    source, raw = {}, {}
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        for table in SOURCE_TABLES:
            amount = f"sum({table.amount_column})" if table.amount_column else "0"
            cur.execute(f"select count(*), coalesce({amount}, 0) from {table.qualified_name}")
            source[table.name] = tuple(cur.fetchone())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in SOURCE_TABLES:
            amount = f"sum({table.amount_column})" if table.amount_column else "0"
            raw[table.name] = tuple(
                con.execute(f"select count(*), coalesce({amount}, 0) from raw.{table.name}").fetchone()
            )
    return source, raw


def test_raw_equals_source_and_updates_merge(source_dsn, tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    with platform_env(monkeypatch, source_dsn, warehouse):
        transaction_ids = _fill_source(source_dsn)
        _ingest()
        source, raw = _counts_and_sums(source_dsn, warehouse)
        assert raw == source
        assert raw["transaction"] == (6, Decimal("5660.59"))

        # the pending card payment completes: it must arrive as an update, not as a second row
        with closing(psycopg2.connect(source_dsn)) as conn, conn.cursor() as cur:
            cur.execute(
                "update banking.transaction set status = 'completed', booked_at = now(), updated_at = now()"
                " where transaction_id = %s",
                (transaction_ids[3],),
            )
            conn.commit()
        _ingest()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute(
                "select status from raw.transaction where transaction_id = ?", [transaction_ids[3]]
            ).fetchall()
            total = con.execute("select count(*) from raw.transaction").fetchone()[0]
        assert rows == [("completed",)]
        assert total == 6
        # a re-run with nothing new changes nothing
        _ingest()
        assert _counts_and_sums(source_dsn, warehouse)[1] == _counts_and_sums(source_dsn, warehouse)[0]


def test_source_down_fails_with_a_clear_error(tmp_path, monkeypatch):
    unreachable = "postgresql://postgres:x@127.0.0.1:1/finefinance"
    with platform_env(monkeypatch, unreachable, tmp_path / "warehouse.duckdb"):
        monkeypatch.setattr("finefinance_platform.ingestion.dlt_ingestion.SOURCE_CONNECT_ATTEMPTS", 2)
        result = materialize([raw_tables()], resources=ingestion_resources(get_settings()), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert "unreachable after 2 attempts" in failure.event_specific_data.error.message
    # nothing half-written: no raw table was created
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert con.execute("select count(*) from information_schema.tables where table_schema = 'raw'").fetchone() == (
            0,
        )


@pytest.mark.parametrize("table", [t.name for t in SOURCE_TABLES])
def test_every_table_has_a_primary_key_for_merging(table):
    spec = next(t for t in SOURCE_TABLES if t.name == table)
    assert spec.primary_key
