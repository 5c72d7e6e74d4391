"""End to end on the real marts: the small bank's rows go into `raw.*`, the real dbt project builds
the marts, and delivery must give exactly what it gives on the hand-computed fixture marts.

This ties the fixture the other delivery tests use to the dbt models (if either drifts from
docs/business-definitions.md, the two disagree here), and runs the statement assets, their checks,
the serving copy and every dashboard page on marts with dbt's own column types.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from dagster import materialize
from helpers.dbt_runs import DbtStep, create_raw_tables, insert_raw, run_dbt_steps
from helpers.delivery_fixtures import DeliveryHome, make_delivery_home, signed_in, small_bank, uid
from helpers.environment import collect_garbage_before_pages
from streamlit.testing.v1 import AppTest

from finefinance_platform.access.policy import CustomerScope
from finefinance_platform.dashboards import APP, queries
from finefinance_platform.serving.assets import serving_assets
from finefinance_platform.statements.assets import every_customer_has_a_statement, statement_documents, statement_issues
from finefinance_platform.statements.marts import load_month_statements
from finefinance_platform.statements.render import render_csv
from finefinance_platform.warehouse import WarehouseResource

SOURCE_PROFILE = {"Bronze": "bronze", "Gold": "gold", "Diamond": "diamant"}


def fill_raw(db, bank) -> None:
    create_raw_tables(db)
    insert_raw(db, "advisor", [{**a, "created_at": bank.months[0]} for a in bank.advisors])
    insert_raw(
        db,
        "customer",
        [
            {
                "customer_id": c["customer_id"], "firstname": c["firstname"], "surname": c["surname"],
                "email": f"{c['firstname'].lower()}@example.com", "signup_date": c["signup_date"],
                "profile_level": SOURCE_PROFILE[c["profile"]], "advisor_id": c["advisor_id"],
            }
            for c in bank.customers
        ],
    )  # fmt: skip
    insert_raw(db, "account", [{**a, "closed_date": None} for a in bank.accounts])
    insert_raw(
        db,
        "transaction",
        [
            {
                **t,
                "counterparty": None if t["sender_account_id"] and t["receiver_account_id"] else "Outside party",
                "created_at": t["transaction_date"], "updated_at": t["transaction_date"],
            }
            for t in bank.transactions
        ],
    )  # fmt: skip
    insert_raw(
        db,
        "loan",
        [
            {"loan_id": p["product_id"], "customer_id": p["customer_id"], "amount": p["amount"],
             "interest_rate": p["interest_rate"], "start_date": p["start_date"], "end_date": p["end_date"],
             "status": "active"}
            for p in bank.loans
        ],
    )  # fmt: skip
    insert_raw(
        db,
        "investment",
        [
            {"investment_id": p["product_id"], "customer_id": p["customer_id"], "product_name": p["product_name"],
             "amount": p["amount"], "opened_at": p["start_date"], "closed_at": p["end_date"], "status": "active"}
            for p in bank.investments
        ],
    )  # fmt: skip
    insert_raw(
        db,
        "credit_card",
        [
            {"card_id": p["product_id"], "customer_id": p["customer_id"], "amount_limit": p["amount"], "fee": p["fee"],
             "start_date": p["start_date"], "end_date": p["end_date"],
             "status": "active" if p["end_date"] is None else "expired"}
            for p in bank.cards
        ],
    )  # fmt: skip


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """(home on the dbt-built marts, home on the hand-computed fixture marts), same bank."""
    bank = small_bank()
    real = DeliveryHome(tmp_path_factory.mktemp("real-marts"), bank)
    fill_raw(real.warehouse, bank)
    # the whole project once, without month vars: every month up to the data's last
    run_dbt_steps([DbtStep(real.warehouse, ("build", "--exclude-resource-type", "unit_test"))], real.home / "dbt")
    fixture = make_delivery_home(tmp_path_factory.mktemp("fixture-marts"), bank, publish=False)
    return real, fixture


def read(home: DeliveryHome, function, *args):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return function(con, *args)


def test_statements_from_the_real_marts_are_the_fixtures(homes):
    real, fixture = homes
    for month in real.months:
        from_dbt = read(real, load_month_statements, month)
        expected = read(fixture, load_month_statements, month)
        assert [s.customer_id for s in from_dbt] == [s.customer_id for s in expected], month
        for got, want in zip(from_dbt, expected, strict=True):
            assert got == want, (month, got.customer_name)
            assert render_csv(got) == render_csv(want)
    alice = next(s for s in read(real, load_month_statements, real.months[-1]) if s.customer_id == uid("alice"))
    assert str(alice.accounts[0].closing_balance) == "9334.04"  # 4 x (3,000 - 45.99 - 500 - 120.50)


def test_dashboard_queries_agree_on_both(homes):
    real, fixture = homes
    month = real.months[-1]
    for name, args in [
        ("risk_table", (month, CustomerScope(everyone=True))),
        ("risk_table", (month, CustomerScope(advisor_id=uid("hugo")))),
        ("customers", (CustomerScope(customer_id=uid("alice")),)),
        ("advisor_portfolios", (month,)),
        ("upgrade_candidates", (month, uid("hugo"))),
        ("budget_support", (month, uid("hugo"))),
        ("kpi_growth", ()),
        ("customers_per_profile", ()),
        ("transactions_per_category", ()),
    ]:
        got = read(real, getattr(queries, name), *args)
        want = read(fixture, getattr(queries, name), *args)
        months = set(fixture.months)
        if "month_start" in got:
            # dbt may also build the open month: the pages only show closed ones
            got = got[pd.to_datetime(got["month_start"]).dt.date.isin(months)].reset_index(drop=True)
        if name == "transactions_per_category":
            # the dbt mart also lists a known category with no transaction that month (count 0)
            got = got[got["transaction_count"] > 0].reset_index(drop=True)
        assert list(got.columns) == list(want.columns) and len(got) == len(want), name
        for column in want.columns:
            if pd.api.types.is_numeric_dtype(want[column]):
                # growth percentages: dbt rounds them to 4 decimals
                pd.testing.assert_series_equal(
                    got[column].astype(float), want[column].astype(float), atol=1e-3, obj=f"{name}.{column}"
                )
            else:
                assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), (name, column)


def test_asset_check_and_pages_on_the_real_marts(homes, monkeypatch):
    real, _ = homes
    for key, value in real.env().items():
        monkeypatch.setenv(key, value)
    first, last = real.months[0], real.months[-1]
    result = materialize(
        [
            statement_issues(real.settings()),
            statement_documents(real.settings()),
            every_customer_has_a_statement,
            *serving_assets(real.settings()),
        ],
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        resources={"warehouse": WarehouseResource(settings=real.settings())},
    )
    assert result.success
    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    issued, documents = checks["issued_statements_match_the_marts"], checks["every_customer_has_a_statement"]
    assert issued.passed and issued.metadata["months_checked"].value == 4
    assert documents.passed and documents.metadata["customers_expected"].value == 4 + 4 + 5 + 5
    assert (real.home / "serving" / "marts.duckdb").exists()

    collect_garbage_before_pages()  # the Dagster run above made some
    # every page of every role renders on the dbt marts
    for claims, pages in (
        (signed_in("director"), ("kpi_trends", "advisor_portfolio", "risk_scoring", "customer_value")),
        (signed_in("advisor", "claire"), ("statement_explorer", "risk_scoring", "advisor_portfolio", "customer_value")),
        (signed_in("customer", "alice"), ("statement_explorer",)),
    ):
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.user = claims
        app.run()
        for page in pages:
            app.switch_page(f"pages/{page}.py")
            app.run()
            assert not app.exception, (page, [e.value for e in app.exception])
            why = (
                [e.value for e in app.error],
                app.session_state["session_ended"] if "session_ended" in app.session_state else None,
            )
            assert len(app.title) == 1 and not app.error, (claims["role"], page, why)
    assert app.title[0].value == "Monthly Statement Explorer"
