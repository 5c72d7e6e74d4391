"""Schema drift (issue 7): a new source column flows into raw without breaking anything; a column
that a model reads, dropped or retyped (at the source, or in raw as another loader would leave it),
stops the run with a message naming the table and column, before any mart is rewritten."""

from __future__ import annotations

from contextlib import closing

import duckdb
import psycopg2
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from helpers.environment import instance_with_every_month_built
from helpers.reliability import differences, fingerprint

from finefinance_platform.ingestion.schema_drift import declared_columns, drift, type_kind
from finefinance_platform.months import add_months
from finefinance_platform.runs.pipeline import PipelineFailed, run_pipeline
from finefinance_platform.settings import get_settings
from finefinance_platform.source.tables import SOURCE_TABLES

MONTHS = [add_months(XS_FIRST_MONTH, i).isoformat() for i in range(XS_MONTHS)]


def _source(dsn: str, *statements: str) -> None:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        conn.commit()


def test_a_new_source_column_flows_into_raw(xs_clone):
    with closing(psycopg2.connect(xs_clone["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("select customer_id::text from crm.customer order by customer_id limit 1")
        customer_id = cur.fetchone()[0]
    _source(
        xs_clone["dsn"],
        "alter table crm.customer add column phone text",
        f"update crm.customer set phone = '+33 6 12 34 56 78', updated_at = now() where customer_id = '{customer_id}'",
    )
    report = run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    assert report.failed_checks == []
    with duckdb.connect(str(xs_clone["warehouse"]), read_only=True) as con:
        phones = con.execute("select customer_id, phone from raw.customer where phone is not null").fetchall()
        assert phones == [(customer_id, "+33 6 12 34 56 78")]
        # the models read their own columns: the customer is still there, once
        found = con.execute("select count(*) from marts.dim_customer where customer_id = ?", [customer_id])
        assert found.fetchone() == (1,)


def test_a_column_dropped_or_retyped_at_the_source_stops_the_ingestion(xs_clone):
    before = fingerprint(xs_clone["warehouse"])
    _source(
        xs_clone["dsn"],
        "alter table banking.transaction drop column counterparty",
        "alter table product.loan drop constraint loan_interest_rate_check",
        "alter table product.loan alter column interest_rate type text",
    )
    with pytest.raises(PipelineFailed) as failed:
        run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    message = str(failed.value)
    assert "step ingest_operational_source: schema drift at the source, nothing was ingested" in message
    assert "banking.transaction has no column counterparty (the models read it as varchar)" in message
    assert "product.loan.interest_rate is text, the models read it as decimal(6, 5)" in message
    # nothing was loaded, nothing was rebuilt
    assert differences(fingerprint(xs_clone["warehouse"]), before) == {}


def test_a_column_dropped_or_retyped_in_raw_stops_dbt_before_any_model(xs_clone):
    """As another loader (Airbyte propagating a source change) would leave raw."""
    with duckdb.connect(str(xs_clone["warehouse"])) as con:
        con.execute("alter table raw.loan drop column interest_rate")
        con.execute("alter table raw.account alter column closed_date type varchar")
    before = fingerprint(xs_clone["warehouse"])
    with pytest.raises(PipelineFailed) as failed:
        run_pipeline(get_settings(), echo=lambda *_: None, instance=instance_with_every_month_built(MONTHS))
    message = str(failed.value)
    assert "step dbt_unpartitioned:" in message and "schema drift in the raw tables, nothing was built" in message
    assert "raw.loan has no column interest_rate (declared decimal(6, 5))" in message
    assert "raw.account.closed_date is VARCHAR, declared date" in message
    assert differences(fingerprint(xs_clone["warehouse"]), before) == {}


def test_drift_rules():
    declared = declared_columns()
    assert set(declared) == {table.name for table in SOURCE_TABLES}
    assert declared["transaction"]["amount"] == "decimal(12, 2)"
    actual = {"loan": {"loan_id": "uuid", "amount": "numeric", "interest_rate": "character varying", "extra": "int"}}
    assert drift(
        {
            "loan": {
                "loan_id": "varchar",
                "amount": "decimal(12, 2)",
                "interest_rate": "decimal(6, 5)",
                "start_date": "date",
            }
        },
        actual,
        {"loan": "product.loan"},
    ) == [
        "product.loan.interest_rate is character varying, the models read it as decimal(6, 5)",
        "product.loan has no column start_date (the models read it as date)",
    ]
    assert drift({"gone": {"x": "date"}}, {}, {}) == ["gone does not exist"]
    kinds = {
        "timestamp with time zone": "timestamp",
        "TIMESTAMP_TZ": "timestamp",
        "date": "date",
        "boolean": "boolean",
        "NUMBER(12,2)": "number",
        "numeric": "number",
        "uuid": "text",
        "character(3)": "text",
    }
    assert {t: type_kind(t) for t in kinds} == kinds
