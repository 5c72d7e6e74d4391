"""Airbyte path: the real dagster-airbyte client and the bootstrap against a local API stub."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner
from dagster import AssetKey, Definitions, materialize
from helpers.airbyte_stub import CONFIG, CONNECTORS, PUBLIC, SPECS, AirbyteStub, find_operation

from finefinance_platform.cli import cli
from finefinance_platform.errors import FineFinanceError, SettingsError
from finefinance_platform.ingestion.airbyte import (
    CONNECTION_NAME,
    airbyte_resources,
    build_airbyte_ingestion_assets,
)
from finefinance_platform.production import airbyte_bootstrap
from finefinance_platform.production.airbyte_bootstrap import bootstrap
from finefinance_platform.settings import load_settings
from finefinance_platform.source.tables import SOURCE_TABLES

RAW_KEYS = {AssetKey(["raw", table.name]) for table in SOURCE_TABLES}
READER_URL = "postgresql://finefinance_reader:reader-pw@db.internal:5433/finefinance"
FAKE_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.fixture()
def stub():
    server = AirbyteStub().start()
    yield server
    server.stop()
    # whatever a test did, the stub answered in api.yaml's shapes
    assert not server.answer_errors


@pytest.fixture()
def production_env(stub, tmp_path) -> dict[str, str]:
    key = tmp_path / "ingest_rsa_key.p8"
    key.write_text(FAKE_PRIVATE_KEY)
    return {
        **stub.env(),
        "FINEFINANCE_HOME": str(tmp_path / "home"),
        "FINEFINANCE_SOURCE_URL": "postgresql://owner:owner-pw@db.internal:5433/finefinance",
        "FINEFINANCE_SOURCE_READER_URL": READER_URL,
        "FINEFINANCE_WAREHOUSE": "snowflake",
        "FINEFINANCE_SNOWFLAKE_ACCOUNT": "acme-finefinance",
        "FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH": str(key),
    }


def _streams() -> list[dict]:
    return [
        {"name": t.name, "syncMode": "incremental_deduped_history", "cursorField": ["updated_at"]}
        for t in SOURCE_TABLES
    ]


# -- definitions and syncs -------------------------------------------------------------------


def test_definitions_load_with_airbyte_ingestion(stub, production_env):
    bootstrap(load_settings(production_env))  # the connection the assets are read from
    settings = load_settings(production_env)
    assert settings.ingestion == "airbyte"
    stub.requests.clear()

    assets = build_airbyte_ingestion_assets(settings)
    defs = Definitions(assets=assets, resources=airbyte_resources(settings))
    Definitions.validate_loadable(defs)

    specs = [spec for assets_def in assets for spec in assets_def.specs]
    assert {spec.key for spec in specs} == RAW_KEYS
    assert {spec.group_name for spec in specs} == {"ingestion"}
    assert all("airbyte" in spec.kinds for spec in specs)
    # the workspace is read at load time through these calls of the Airbyte API (dagster-airbyte's
    # AirbyteWorkspace, see tests/data/specs/airbyte/PROVENANCE.md)
    called = {(r.method, r.path) for r in stub.calls()}
    connection_id = next(iter(stub.connections))
    destination_id = stub.connections[connection_id]["destinationId"]
    assert {
        ("GET", f"{PUBLIC}/workspaces/{stub.workspace_id}"),
        ("GET", f"{PUBLIC}/connections"),
        ("POST", f"{CONFIG}/connections/get"),
        ("GET", f"{PUBLIC}/destinations/{destination_id}"),
    } <= called


def test_other_connections_in_the_workspace_are_ignored(stub, production_env):
    stub.add_connection(CONNECTION_NAME, _streams())
    stub.add_connection("marketing_hubspot", [{"name": "contacts"}])
    assets = build_airbyte_ingestion_assets(load_settings(production_env))
    assert {spec.key for a in assets for spec in a.specs} == RAW_KEYS


def test_missing_connection_or_stream_is_a_clear_error(stub, production_env):
    settings = load_settings(production_env)
    with pytest.raises(SettingsError, match="no connection named 'finefinance_postgres_to_snowflake'.*bootstrap"):
        build_airbyte_ingestion_assets(settings)
    stub.add_connection(CONNECTION_NAME, [s for s in _streams() if s["name"] != "balance"])
    with pytest.raises(SettingsError, match="does not sync balance"):
        build_airbyte_ingestion_assets(settings)


def test_sync_is_triggered_and_polled_to_success(stub, production_env):
    connection_id = stub.add_connection(CONNECTION_NAME, _streams())
    stub.job_outcomes = ["running", "running", "succeeded"]
    settings = load_settings(production_env)

    result = materialize(build_airbyte_ingestion_assets(settings), resources=airbyte_resources(settings))

    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == RAW_KEYS
    started = stub.calls("POST", f"{PUBLIC}/jobs")
    assert [r.body for r in started] == [{"connectionId": connection_id, "jobType": "sync"}]
    polls = stub.calls("GET", f"{PUBLIC}/jobs/1")
    assert len(polls) == 3  # running, running, succeeded
    assert stub.jobs[1]["status"] == "succeeded"
    assert not stub.calls("DELETE")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [(["running", "failed"], "Job failed: 1"), (["running", "cancelled"], "Job was cancelled: 1")],
)
def test_failed_or_cancelled_job_fails_the_asset_clearly(stub, production_env, outcomes, expected):
    connection_id = stub.add_connection(CONNECTION_NAME, _streams())
    stub.job_outcomes = outcomes
    settings = load_settings(production_env)

    result = materialize(
        build_airbyte_ingestion_assets(settings), resources=airbyte_resources(settings), raise_on_error=False
    )

    assert not result.success
    assert not result.get_asset_materialization_events()
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    message = failure.message
    assert f"Airbyte sync of {CONNECTION_NAME} ({connection_id}) did not succeed: {expected}" in message
    assert f"/connections/{connection_id}/job-history" in message


def test_workspace_settings_are_required(production_env):
    env = {k: v for k, v in production_env.items() if k != "FINEFINANCE_AIRBYTE_CLIENT_SECRET"}
    with pytest.raises(SettingsError, match="FINEFINANCE_AIRBYTE_CLIENT_SECRET"):
        airbyte_resources(load_settings(env))


# -- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_creates_source_destination_and_connection(stub, production_env):
    result = bootstrap(load_settings(production_env))

    assert [(c.kind, c.action) for c in result.changes] == [
        ("source", "created"),
        ("destination", "created"),
        ("connection", "created"),
    ]
    (source_post,) = stub.calls("POST", f"{PUBLIC}/sources")
    assert source_post.body["workspaceId"] == stub.workspace_id
    source = source_post.body["configuration"]
    assert source["sourceType"] == "postgres"
    assert (source["host"], source["port"], source["database"]) == ("db.internal", 5433, "finefinance")
    assert (source["username"], source["password"]) == ("finefinance_reader", "reader-pw")
    assert source["schemas"] == ["crm", "banking", "product"]
    assert source["replication_method"] == {"method": "Standard"}

    (destination_post,) = stub.calls("POST", f"{PUBLIC}/destinations")
    destination = destination_post.body["configuration"]
    assert destination["destinationType"] == "snowflake"
    assert destination["host"] == "acme-finefinance.snowflakecomputing.com"
    assert (destination["database"], destination["schema"]) == ("FINEFINANCE", "RAW")
    # destination-snowflake 4.x has no number type setting (it writes FLOAT): nothing is sent
    assert "number_data_type" not in destination
    assert destination_post.body["definitionId"] == "424892c4-daac-4491-b35d-c6688ba547ba"
    assert source_post.body["definitionId"] == "decd338e-5647-4c0b-adf4-da0e75f5a750"
    assert (destination["role"], destination["warehouse"], destination["username"]) == (
        "FINEFINANCE_INGEST",
        "FINEFINANCE_INGEST_WH",
        "FINEFINANCE_INGEST_USER",
    )
    assert destination["credentials"] == {
        "auth_type": "Key Pair Authentication",
        "private_key": FAKE_PRIVATE_KEY,
    }
    assert "password" not in destination

    (connection_post,) = stub.calls("POST", f"{PUBLIC}/connections")
    connection = connection_post.body
    source_id, destination_id = next(iter(stub.sources)), next(iter(stub.destinations))
    assert (connection["sourceId"], connection["destinationId"]) == (source_id, destination_id)
    assert connection["name"] == CONNECTION_NAME
    assert (connection["namespaceDefinition"], connection["namespaceFormat"], connection["prefix"]) == (
        "custom_format",
        "raw",
        "",
    )
    assert connection["schedule"] == {"scheduleType": "manual"}
    streams = {s["name"]: s for s in connection["configurations"]["streams"]}
    assert set(streams) == {t.name for t in SOURCE_TABLES}
    assert {s["syncMode"] for s in streams.values()} == {"incremental_deduped_history"}
    assert {tuple(s["cursorField"]) for s in streams.values()} == {("updated_at",)}
    assert streams["balance"]["primaryKey"] == [["account_id"], ["balance_date"]]
    assert streams["credit_card"]["primaryKey"] == [["card_id"]]
    # every request passed api.yaml and both connector specs (the stub refuses otherwise)
    assert not stub.refusals


def test_bootstrap_second_run_changes_nothing_and_updates_only_what_differs(stub, production_env):
    bootstrap(load_settings(production_env))
    writes_after_first = len(stub.writes())

    second = bootstrap(load_settings(production_env))
    assert [c.action for c in second.changes] == ["unchanged"] * 3
    assert not second.changed
    assert len(stub.writes()) == writes_after_first  # no POST, PATCH or DELETE at all

    # a changed setting patches only the object it belongs to
    moved = bootstrap(load_settings({**production_env, "FINEFINANCE_AIRBYTE_SOURCE_HOST": "host.docker.internal"}))
    assert [(c.kind, c.action, c.fields) for c in moved.changes] == [
        ("source", "updated", ("configuration",)),
        ("destination", "unchanged", ()),
        ("connection", "unchanged", ()),
    ]
    (patch,) = stub.writes()[writes_after_first:]
    assert patch.method == "PATCH" and patch.path == f"{PUBLIC}/sources/{next(iter(stub.sources))}"
    assert patch.body["configuration"]["host"] == "host.docker.internal"

    # a stream edited by hand in Airbyte is put back
    connection = next(iter(stub.connections.values()))
    connection["configurations"]["streams"][0]["syncMode"] = "full_refresh_overwrite"
    restored = bootstrap(load_settings({**production_env, "FINEFINANCE_AIRBYTE_SOURCE_HOST": "host.docker.internal"}))
    assert [(c.kind, c.action, c.fields) for c in restored.changes][2] == (
        "connection",
        "updated",
        ("streams",),
    )
    assert connection["configurations"]["streams"][0]["syncMode"] == "incremental_deduped_history"


def test_bootstrap_cli_reports_and_rotates_secrets(stub, production_env, monkeypatch):
    for name, value in production_env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    first = runner.invoke(cli, ["airbyte", "bootstrap"])
    assert first.exit_code == 0, first.output
    assert "source finefinance_postgres: created" in first.output
    second = runner.invoke(cli, ["airbyte", "bootstrap"])
    assert second.exit_code == 0, second.output
    assert second.output.count(": unchanged") == 3 and "Airbyte is up to date." in second.output

    # secrets come back masked: only --update-secrets sends a rotated password
    monkeypatch.setenv("FINEFINANCE_SOURCE_READER_URL", READER_URL.replace("reader-pw", "rotated-pw"))
    assert "unchanged" in runner.invoke(cli, ["airbyte", "bootstrap"]).output.splitlines()[0]
    rotated = runner.invoke(cli, ["airbyte", "bootstrap", "--update-secrets"])
    assert "source finefinance_postgres: updated (configuration)" in rotated.output
    assert stub.stored_secrets[next(iter(stub.sources))]["password"] == "rotated-pw"


def test_bootstrap_names_the_missing_setting(production_env):
    env = {k: v for k, v in production_env.items() if k != "FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH"}
    with pytest.raises(SettingsError, match="FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH"):
        bootstrap(load_settings(env))


def test_airbyte_ingestion_needs_the_snowflake_warehouse(production_env):
    with pytest.raises(SettingsError, match="FINEFINANCE_WAREHOUSE=snowflake"):
        load_settings({**production_env, "FINEFINANCE_WAREHOUSE": "duckdb"})


def test_the_code_location_loads_with_airbyte_and_keeps_the_graph(stub, production_env):
    """The real `definitions.defs` on the Airbyte path: same raw keys, dbt downstream unchanged."""
    import os
    import subprocess
    import sys

    from finefinance_platform.settings import REPO_ROOT

    bootstrap(load_settings(production_env))
    probe = (
        "from dagster import AssetKey\n"
        "from finefinance_platform.definitions import defs\n"
        "g = defs.resolve_asset_graph()\n"
        "raw = sorted(k.to_user_string() for k in g.get_all_asset_keys() if k.path[0] == 'raw')\n"
        "todo, parents = [AssetKey(['staging', 'stg_transaction'])], set()\n"
        "while todo:\n"
        "    for parent in g.get(todo.pop()).parent_keys:\n"
        "        parents.add(parent); todo.append(parent)\n"
        "kinds = g.get(AssetKey(['raw', 'transaction'])).kinds\n"
        "print(raw, [p.to_user_string() for p in parents], sorted(kinds), sep='\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **production_env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    raw, parents, kinds = result.stdout.strip().splitlines()[-3:]
    assert raw == str(sorted(f"raw/{t.name}" for t in SOURCE_TABLES))
    assert "raw/transaction" in parents
    assert "airbyte" in kinds


# -- the stand-in is as strict as the vendored specifications (tests/data/specs/airbyte) ---------


def _post(stub, path: str, body: dict, **params) -> requests.Response:
    return requests.post(
        f"{stub.url}{PUBLIC}/{path}",
        json=body,
        params=params,
        headers={"Authorization": "Bearer stub-token"},
        timeout=10,
    )


def test_stub_refuses_unknown_fields_naming_them(stub, production_env):
    destination = airbyte_bootstrap.desired_destination(load_settings(production_env))
    body = {**destination, "workspaceId": stub.workspace_id}

    # the old bootstrap's setting: destination-snowflake 4.x does not have it
    old = {**body, "configuration": {**body["configuration"], "number_data_type": "NUMBER(38,9)"}}
    refused = _post(stub, "destinations", old)
    assert refused.status_code == 400
    assert (
        "configuration" in refused.json()["message"]
        and "'number_data_type' was unexpected" in refused.json()["message"]
    )

    # unknown keys are refused at every level of a configuration ...
    credentials = {**body["configuration"]["credentials"], "passphrase": "x"}
    nested = _post(
        stub, "destinations", {**body, "configuration": {**body["configuration"], "credentials": credentials}}
    )
    assert (
        nested.status_code == 400
        and "credentials: Additional properties are not allowed ('passphrase'" in nested.json()["message"]
    )
    # ... in a request body, and in the query
    top = _post(stub, "destinations", {**body, "dataResidency": "eu"})
    assert top.status_code == 400 and "'dataResidency' was unexpected" in top.json()["message"]
    query = requests.get(
        f"{stub.url}{PUBLIC}/destinations",
        params={"workspaceIds": stub.workspace_id, "workspaceId": stub.workspace_id},
        headers={"Authorization": "Bearer stub-token"},
        timeout=10,
    )
    assert query.status_code == 400 and "unknown query parameter 'workspaceId'" in query.json()["message"]
    # a missing required field and a wrong type too
    missing = _post(stub, "destinations", {k: v for k, v in body.items() if k != "name"})
    assert missing.status_code == 400 and "'name' is a required property" in missing.json()["message"]
    assert _post(stub, "jobs", {"connectionId": "c", "jobType": "resync"}).status_code == 400

    assert not stub.destinations  # nothing refused was stored
    assert _post(stub, "destinations", body).status_code == 200


def test_the_old_bootstrap_configuration_fails_clearly(stub, production_env, monkeypatch):
    """What would have caught `number_data_type`: the bootstrap's requests go through the specs."""
    desired = airbyte_bootstrap.desired_destination

    def with_number_type(settings):
        destination = desired(settings)
        destination["configuration"]["number_data_type"] = "NUMBER(38,9)"
        return destination

    monkeypatch.setattr(airbyte_bootstrap, "desired_destination", with_number_type)
    with pytest.raises(FineFinanceError, match="HTTP 400.*number_data_type"):
        bootstrap(load_settings(production_env))


def test_vendored_specs_are_the_pinned_ones_and_define_every_call():
    # the bootstrap writes its configurations for the connectors whose specs are vendored
    assert {kind: CONNECTORS[(kind, t)][0] for kind, t in (("source", "postgres"), ("destination", "snowflake"))} == (
        airbyte_bootstrap.DEFINITION_IDS
    )
    # destination-snowflake 4.x (PROVENANCE.md): these properties, no number type setting
    snowflake = json.loads((SPECS / "destination-snowflake.json").read_text())
    assert set(snowflake["properties"]) == {
        "host", "role", "warehouse", "database", "schema", "username", "credentials", "cdc_deletion_mode",
        "disable_type_dedupe", "raw_data_schema", "jdbc_url_params", "retention_period_days", "destinationType",
    }  # fmt: skip
    postgres = json.loads((SPECS / "source-postgres.json").read_text())
    assert {"tunnel_method", "replication_method", "ssl_mode", "schemas"} <= set(postgres["properties"])
    # every public call of the bootstrap and of dagster-airbyte is an api.yaml operation
    for method, route in [
        ("POST", "/applications/token"),
        ("GET", "/workspaces/w"),
        ("GET", "/sources"),
        ("POST", "/sources"),
        ("GET", "/sources/s"),
        ("PATCH", "/sources/s"),
        ("GET", "/destinations"),
        ("POST", "/destinations"),
        ("GET", "/destinations/d"),
        ("PATCH", "/destinations/d"),
        ("GET", "/connections"),
        ("POST", "/connections"),
        ("GET", "/connections/c"),
        ("PATCH", "/connections/c"),
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/1"),
        ("DELETE", "/jobs/1"),
    ]:
        operation = find_operation(method, route)
        assert operation is not None, (method, route)
        assert operation.response_ref, (method, route)
