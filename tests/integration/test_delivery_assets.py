"""The Dagster assets of delivery, materialized in process with the real `WarehouseResource` on DuckDB."""

from __future__ import annotations

import json

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize
from helpers.delivery_fixtures import make_delivery_home, uid, write_marts

from finefinance_platform.serving.assets import SERVING_COPY_KEY, build_serving_copy_asset, mart_keys, serving_assets
from finefinance_platform.serving.marts import open_marts
from finefinance_platform.serving.publish import serving_tables
from finefinance_platform.settings import DBT_PROJECT_DIR, get_settings, load_settings
from finefinance_platform.statements.assets import (
    ISSUES_CHECK,
    STATEMENT_DOCUMENTS_KEY,
    STATEMENT_ISSUES_KEY,
    STATEMENT_MART_KEYS,
    every_customer_has_a_statement,
    statement_assets,
    statement_checks,
    statement_documents,
    statement_issues,
)
from finefinance_platform.warehouse import WarehouseResource

CHECK_KEY = AssetCheckKey(STATEMENT_DOCUMENTS_KEY, "every_customer_has_a_statement")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    home = make_delivery_home(tmp_path / "home", publish=False)
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)
    return home


def resources(home) -> dict:
    return {"warehouse": WarehouseResource(settings=home.settings())}


def check_evaluation(result):
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == CHECK_KEY
    return evaluation


def test_lineage_and_partitions():
    assert {asset.key for asset in statement_assets(get_settings())} == {STATEMENT_ISSUES_KEY, STATEMENT_DOCUMENTS_KEY}
    assert {asset.key for asset in serving_assets(get_settings())} == {SERVING_COPY_KEY}
    assert statement_checks == [every_customer_has_a_statement]
    # the issued statements' check runs in their own step, on the statements issuing built
    assert set(statement_issues(get_settings()).check_keys) == {ISSUES_CHECK}
    # marts -> issued statements -> documents and serving copy
    assert (
        set(statement_issues(get_settings()).asset_deps[STATEMENT_ISSUES_KEY])
        == {
            AssetKey(["marts", "fct_monthly_statement"]),
            AssetKey(["marts", "fct_statement_line"]),
            AssetKey(["marts", "dim_customer"]),
        }
        == set(STATEMENT_MART_KEYS)
    )
    assert set(statement_documents(get_settings()).asset_deps[STATEMENT_DOCUMENTS_KEY]) == {STATEMENT_ISSUES_KEY}
    for asset in (statement_issues(get_settings()), statement_documents(get_settings())):
        assert asset.partitions_def is not None and asset.backfill_policy.max_partitions_per_run is None
    assert STATEMENT_ISSUES_KEY in serving_assets(get_settings())[0].asset_deps[SERVING_COPY_KEY]
    serving = build_serving_copy_asset([AssetKey(["marts", "dim_customer"])])
    assert set(serving.asset_deps[SERVING_COPY_KEY]) == {AssetKey(["marts", "dim_customer"])}
    # every model of the `marts` schema, read from the dbt manifest
    assert len(mart_keys(get_settings())) == len(list((DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")))


def test_statement_documents_for_a_partition_with_its_check(home):
    month = home.months[3]
    result = materialize(
        [statement_documents(get_settings()), every_customer_has_a_statement],
        partition_key=month.isoformat(),
        resources=resources(home),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    folder = home.home / "statements" / f"{month:%Y-%m}"
    customers = sorted(uid(key) for key in ("alice", "bruno", "chloe", "didier", "emma"))
    files = sorted(f"{customer}.{fmt}" for customer in customers for fmt in ("pdf", "csv"))
    assert sorted(p.name for p in folder.iterdir()) == sorted([*files, ".rendered.json"])
    # the manifest names the issued version each file holds (re-rendered only when it changes)
    rendered = json.loads((folder / ".rendered.json").read_text())
    assert sorted(rendered) == files and all(version.startswith("1:") for version in rendered.values())
    (materialization,) = result.asset_materializations_for_node(statement_documents(get_settings()).node_def.name)
    assert materialization.partition == month.isoformat()
    assert materialization.metadata["count"].value == 5
    assert materialization.metadata["files"].value == 10
    assert materialization.metadata["folder"].value == str(folder)
    evaluation = check_evaluation(result)
    assert evaluation.passed
    assert evaluation.metadata["customers_expected"].value == 5


def month_range_tags(first, last) -> dict:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def test_check_on_its_own_covers_every_month_and_names_a_missing_statement(home):
    defs = [statement_documents(get_settings()), every_customer_has_a_statement]
    assert materialize(defs, tags=month_range_tags(home.months[0], home.months[-1]), resources=resources(home)).success
    missing = home.home / "statements" / f"{home.months[2]:%Y-%m}" / f"{uid('didier')}.pdf"
    missing.unlink()

    result = materialize(
        defs, resources=resources(home), selection=AssetSelection.checks(every_customer_has_a_statement)
    )
    evaluation = check_evaluation(result)
    assert not evaluation.passed
    assert evaluation.metadata["customers_expected"].value == 4 + 4 + 5 + 5  # Emma from the third month
    assert evaluation.metadata["missing_files"].value == 1
    assert evaluation.metadata["missing_sample"].value == f"{home.months[2]:%Y-%m}/{uid('didier')}.pdf"


def test_a_range_of_months_is_one_run(home):
    first, last = home.months[0], home.months[1]
    result = materialize(
        [statement_documents(get_settings()), every_customer_has_a_statement],
        tags=month_range_tags(first, last),
        resources=resources(home),
    )
    assert result.success
    partitions = sorted(
        m.partition for m in result.asset_materializations_for_node(statement_documents(get_settings()).node_def.name)
    )
    assert partitions == [first.isoformat(), last.isoformat()]
    # Emma has no account before the third month: 4 customers in each of the first two
    for month in (first, last):
        assert len(list((home.home / "statements" / f"{month:%Y-%m}").glob("*.pdf"))) == 4
    assert check_evaluation(result).passed


def test_statements_are_issued_checked_and_corrections_alert_operations(tmp_path, monkeypatch):
    home = make_delivery_home(tmp_path / "home", publish=False, issue=False)
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)
    defs = [statement_issues(get_settings())]
    months = month_range_tags(home.months[0], home.months[-1])

    def check_on_its_own():
        result = materialize(
            defs, resources=resources(home), selection=AssetSelection.checks(ISSUES_CHECK), raise_on_error=False
        )
        assert not result.asset_materializations_for_node(defs[0].node_def.name)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    first = materialize(defs, tags=months, resources=resources(home))
    materialization = first.asset_materializations_for_node(defs[0].node_def.name)[0]  # one per month
    assert materialization.metadata["first_issues"].value == 4 + 4 + 5 + 5  # Emma from the third month
    assert materialization.metadata["corrections"].value == 0
    assert [e.passed for e in first.get_asset_check_evaluations()] == [True]

    # a correction at the source reaches the marts, and nothing is issued: the check fails
    (subscription,) = [t for t in home.bank.transactions if t["transaction_id"] == uid("alice-sub-2")]
    subscription["amount"] = subscription["amount"] + 4
    write_marts(home.warehouse, home.bank)
    evaluation = check_on_its_own()
    assert not evaluation.passed and evaluation.metadata["problems"].value == 2  # Alice's third and fourth
    assert "the marts changed since version 1 was issued" in evaluation.metadata["problem_sample"].value

    second = materialize(defs, tags=months, resources=resources(home))
    materialization = second.asset_materializations_for_node(defs[0].node_def.name)[0]
    assert (materialization.metadata["corrections"].value, materialization.metadata["unchanged"].value) == (2, 16)
    assert check_on_its_own().passed
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        alerts = con.execute("select kind, severity, run_id, message from audit.alerts").fetchall()
    assert [(kind, severity, run_id) for kind, severity, run_id, _ in alerts] == [
        ("statement_corrections", "WARN", second.run_id)
    ]
    assert alerts[0][3].startswith(
        f"2 corrected statement(s) issued ({home.months[2]:%Y-%m}: 1, {home.months[3]:%Y-%m}: 1)"
    )


def test_serving_copy_asset_publishes_every_mart(home):
    serving_copy = serving_assets(get_settings())[0]
    result = materialize([serving_copy], resources=resources(home))
    assert result.success
    path = home.home / "serving" / "marts.duckdb"
    with duckdb.connect(str(home.warehouse), read_only=True) as warehouse:
        marts = warehouse.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts'"
        ).fetchone()[0]
    assert len(serving_tables(path)) == marts == 18  # the fixture's marts
    (materialization,) = result.asset_materializations_for_node(serving_copy.node_def.name)
    assert materialization.metadata["tables"].value == marts
    with open_marts(load_settings(home.env())) as con:
        assert con.execute("select count(*) from marts.fct_statement_line").fetchone()[0] > 0
