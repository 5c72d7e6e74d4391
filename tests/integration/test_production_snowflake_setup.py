"""`finefinance snowflake setup`: the rendered SQL, and its run through the real connector.

fakesnow (the emulator) executes databases and schemas but not warehouses, roles, users, grants
or masking policies: it is told to skip those (its `nop_regexes`), and they are checked on the
rendered SQL instead (idempotent, no secret, least privilege, a policy per personal column).
"""

from __future__ import annotations

import re
from pathlib import Path

import fakesnow
import pytest
import snowflake.connector
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from finefinance_platform.cli import cli
from finefinance_platform.errors import SettingsError
from finefinance_platform.production import snowflake_setup as sf
from finefinance_platform.settings import load_settings

# `fakesnow.server` is a function until the first server start imports fakesnow's own `server`
# module, which then shadows it on the package: keep the function for every later start
start_fakesnow_server = fakesnow.server
IDENTITIES = ("admin", "ingest", "transform", "reporting")
# what fakesnow cannot execute: checked on the rendered SQL below
FAKESNOW_SKIPS = [r"^\s*(create|alter)\s+(warehouse|role|user|masking)\b", r"^\s*grant\b"]


def write_key_pair(directory, name: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / f"{name}_rsa_key.p8"
    public = directory / f"{name}_rsa_key.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(private), str(public)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[str, str]]:
    directory = tmp_path_factory.mktemp("snowflake-keys")
    return {name: write_key_pair(directory, name) for name in IDENTITIES}


@pytest.fixture(scope="module")
def setup_env(keys) -> dict[str, str]:
    return {
        "FINEFINANCE_WAREHOUSE": "snowflake",
        "FINEFINANCE_SNOWFLAKE_ACCOUNT": "acme-finefinance",
        "FINEFINANCE_SNOWFLAKE_ADMIN_USER": "platform_admin",
        "FINEFINANCE_SNOWFLAKE_ADMIN_PRIVATE_KEY_PATH": keys["admin"][0],
        **{f"FINEFINANCE_SNOWFLAKE_{n.upper()}_PUBLIC_KEY_PATH": keys[n][1] for n in IDENTITIES[1:]},
    }


@pytest.fixture(scope="module")
def rendered(setup_env) -> list[sf.SetupFile]:
    return sf.render_setup(load_settings(setup_env))


def _statements(files: list[sf.SetupFile]) -> list[str]:
    return [" ".join(s.split()).lower() for f in files for s in f.statements]


# -- the rendered SQL --------------------------------------------------------------------------

IDEMPOTENT = re.compile(
    r"^(use role \w+"
    r"|create (database|schema|table|warehouse|role|user|masking policy) if not exists "
    r"|alter (warehouse|user|masking policy|table) if exists "
    r"|grant )"
)


def test_every_statement_is_idempotent(rendered):
    statements = _statements(rendered)
    assert len(statements) > 50
    not_idempotent = [s for s in statements if not IDEMPOTENT.match(s)]
    assert not not_idempotent
    assert not [s for s in statements if "create or replace" in s or s.startswith(("drop ", "revoke "))]


def test_files_hold_no_secret_and_render_public_keys_only(rendered, keys):
    for path in sorted(sf.SNOWFLAKE_SQL_DIR.glob("*.sql")):
        text = path.read_text()
        assert "-----BEGIN" not in text and not re.search(r"password\s*=", text, re.I), path.name
        assert not re.search(r"rsa_public_key\s*=\s*'[A-Za-z0-9+/]{20,}", text), path.name
    sql = "\n".join(s for f in rendered for s in f.statements)
    assert "PRIVATE" not in sql and not re.search(r"password\s*=", sql, re.I)
    for identity, user in (("ingest", sf.INGEST_USER), ("transform", sf.TRANSFORM_USER)):
        body = sf.public_key_body(Path(keys[identity][1]), "test")
        assert f"create user if not exists {user}".lower() in sql.lower()
        assert sql.count(f"rsa_public_key = '{body}'") == 2  # create, and the rotation alter


def test_database_schemas_and_warehouses(rendered):
    statements = _statements(rendered)
    for schema in sf.WAREHOUSE_SCHEMAS:
        assert f"create schema if not exists finefinance.{schema} " in " ".join(statements) + " "
    for warehouse in (sf.INGEST_WAREHOUSE, sf.TRANSFORM_WAREHOUSE, sf.REPORTING_WAREHOUSE):
        (create,) = [s for s in statements if s.startswith(f"create warehouse if not exists {warehouse.lower()}")]
        assert "auto_suspend = 60" in create and "auto_resume = true" in create


def _grants_to(statements: list[str], role: str) -> list[str]:
    return [s for s in statements if s.startswith("grant ") and s.endswith(f"to role {role.lower()}")]


def test_roles_have_least_privilege(rendered):
    statements = _statements(rendered)
    writes = ("create table", "create view", "insert", "update", "delete", "truncate", "create stage")

    ingest = _grants_to(statements, sf.INGEST_ROLE)
    ingest_writes = [g for g in ingest if any(w in g for w in writes)]
    assert ingest_writes and all(
        g.split(" on ")[-1].split(" to ")[0].endswith(("finefinance.raw", "finefinance.airbyte_internal"))
        for g in ingest_writes
    )
    assert not [g for g in ingest if "select on" in g and ".raw" not in g]

    transform = _grants_to(statements, sf.TRANSFORM_ROLE)
    raw_grants = [g for g in transform if "finefinance.raw" in g]
    assert raw_grants and not [g for g in raw_grants if any(w in g for w in writes)]
    for layer in ("staging", "intermediate", "snapshots", "marts"):
        assert (
            f"grant usage, create table, create view on schema finefinance.{layer} to role finefinance_transform"
            in transform
        )

    # reporting: SELECT on the marts and the issued statements, INSERT on the access log, nothing more
    reporting = _grants_to(statements, sf.REPORTING_ROLE)
    schema_grants = [g for g in reporting if "schema" in g]
    assert schema_grants and all(
        any(f"finefinance.{schema}" in g for schema in ("marts", "delivery", "audit")) for g in schema_grants
    )
    privileges = {g.removeprefix("grant ").split(" on ")[0] for g in reporting}
    assert privileges == {"usage", "select", "insert"}
    assert [g for g in reporting if any(w in g for w in writes)] == [
        "grant insert on table finefinance.audit.access_log to role finefinance_reporting"
    ]
    selects = [g for g in reporting if g.startswith("grant select")]
    assert selects and all(
        " in schema finefinance.marts " in g or " in schema finefinance.delivery " in g for g in selects
    )
    assert not [g for g in reporting if "finefinance.raw" in g or "staging" in g or "intermediate" in g]
    # future grants: tables created later by Airbyte or dbt are covered
    assert "grant select on future tables in schema finefinance.marts to role finefinance_reporting" in reporting
    assert "grant select on future tables in schema finefinance.raw to role finefinance_transform" in transform


def test_every_personal_column_has_a_masking_policy_names_clear_for_the_readers_only(rendered):
    statements = _statements(rendered)
    transform, reporting = sf.TRANSFORM_ROLE.lower(), sf.REPORTING_ROLE.lower()
    for column in sf.PERSONAL_COLUMNS:
        policy = f"finefinance.governance.mask_{column}"
        assert f"create masking policy if not exists {policy} as (val string) returns string -> val" in statements
        (body,) = [s for s in statements if s.startswith(f"alter masking policy if exists {policy} set body")]
        if column == "email":
            # clear text only inside the transformation role's hierarchy: no reader shows an email
            assert f"when is_role_in_session('{transform}') then val else" in body
            assert reporting not in body
        else:
            # names: clear for the readers' identity too (the access policy decides who sees which
            # row), masked for any other role
            assert (
                f"when is_role_in_session('{transform}') or is_role_in_session('{reporting}') then val else '*****'"
                in body
            )
        assert f"grant apply on masking policy {policy} to role {transform}" in statements
    # dbt attaches the same policies to the model columns of the same names
    macro = (sf.REPO_ROOT / "dbt_project" / "macros" / "snowflake" / "masking.sql").read_text()
    for column in sf.PERSONAL_COLUMNS:
        assert f"'{column}'" in macro


def test_settings_defaults_name_the_setup_objects():
    settings = load_settings({})
    assert (settings.snowflake.user, settings.snowflake.role, settings.snowflake.warehouse) == (
        sf.TRANSFORM_USER,
        sf.TRANSFORM_ROLE,
        sf.TRANSFORM_WAREHOUSE,
    )


def test_public_key_files_are_checked(tmp_path, setup_env, keys):
    private_as_public = {**setup_env, "FINEFINANCE_SNOWFLAKE_REPORTING_PUBLIC_KEY_PATH": keys["reporting"][0]}
    with pytest.raises(SettingsError, match="REPORTING_PUBLIC_KEY_PATH=.* holds a private key"):
        sf.render_setup(load_settings(private_as_public))
    forged = tmp_path / "forged.pub"
    forged.write_text("-----BEGIN PUBLIC KEY-----\nMIIB'; drop database finefinance; --\n-----END PUBLIC KEY-----\n")
    with pytest.raises(SettingsError, match="is not a PEM public key"):
        sf.render_setup(load_settings({**setup_env, "FINEFINANCE_SNOWFLAKE_INGEST_PUBLIC_KEY_PATH": str(forged)}))
    missing = {k: v for k, v in setup_env.items() if "TRANSFORM_PUBLIC" not in k}
    with pytest.raises(SettingsError, match="FINEFINANCE_SNOWFLAKE_TRANSFORM_PUBLIC_KEY_PATH"):
        sf.render_setup(load_settings(missing))


# -- through the connector, against the emulator ------------------------------------------------


@pytest.fixture(scope="module")
def fakesnow_server():
    with start_fakesnow_server() as connection_kwargs:
        yield connection_kwargs


def test_setup_runs_through_the_connector_with_key_pair_auth_twice(setup_env, fakesnow_server):
    env = {
        **setup_env,
        "FINEFINANCE_SNOWFLAKE_DATABASE": "finefinance_setup_test",
        "FINEFINANCE_SNOWFLAKE_HOST": "127.0.0.1",
        "FINEFINANCE_SNOWFLAKE_PORT": str(fakesnow_server["port"]),
        "FINEFINANCE_SNOWFLAKE_PROTOCOL": "http",
    }
    settings = load_settings(env)
    parameters = sf.connection_parameters(settings, "admin")
    assert parameters["private_key_file"] == setup_env["FINEFINANCE_SNOWFLAKE_ADMIN_PRIVATE_KEY_PATH"]
    assert "password" not in parameters
    connection = snowflake.connector.connect(
        **parameters,
        session_parameters={"nop_regexes": FAKESNOW_SKIPS, "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        network_timeout=10,
    )
    try:
        executed: list[str] = []
        first = sf.apply_setup(settings, connection, on_statement=lambda _file, s: executed.append(s))
        second = sf.apply_setup(settings, connection)  # idempotent: the same run again succeeds
        schemas = {
            row[0].lower()
            for row in connection.cursor()
            .execute("select schema_name from finefinance_setup_test.information_schema.schemata")
            .fetchall()
        }
    finally:
        connection.close()

    expected = [(f.path.name, len(f.statements)) for f in sf.render_setup(settings)]
    assert [(r.name, r.statements_run) for r in first] == expected == [(r.name, r.statements_run) for r in second]
    assert len(executed) == sum(count for _, count in expected)
    assert set(sf.WAREHOUSE_SCHEMAS) | {"governance", "airbyte_internal", "audit", "delivery"} <= schemas


def test_cli_dry_run_and_clear_errors(setup_env, monkeypatch):
    for name, value in setup_env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    dry = runner.invoke(cli, ["snowflake", "setup", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "-- 010_database.sql:" in dry.output and "create database if not exists FINEFINANCE" in dry.output

    monkeypatch.delenv("FINEFINANCE_SNOWFLAKE_ADMIN_USER")
    with pytest.raises(SettingsError, match="FINEFINANCE_SNOWFLAKE_ADMIN_USER"):
        runner.invoke(cli, ["snowflake", "setup"], catch_exceptions=False)


def test_snowflake_resources_connect_as_the_transformation_identity(keys, fakesnow_server):
    from dagster_snowflake import SnowflakeResource

    from finefinance_platform.production.resources import snowflake_resources

    settings = load_settings(
        {
            "FINEFINANCE_WAREHOUSE": "snowflake",
            "FINEFINANCE_SNOWFLAKE_ACCOUNT": "fakesnow",
            "FINEFINANCE_SNOWFLAKE_DATABASE": "finefinance_resource_test",
            "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH": keys["transform"][0],
            "FINEFINANCE_SNOWFLAKE_HOST": "127.0.0.1",
            "FINEFINANCE_SNOWFLAKE_PORT": str(fakesnow_server["port"]),
            "FINEFINANCE_SNOWFLAKE_PROTOCOL": "http",
        }
    )
    resources = snowflake_resources(settings)
    resource = resources["snowflake"]
    assert isinstance(resource, SnowflakeResource)
    assert (resource.user, resource.role, resource.warehouse) == (
        sf.TRANSFORM_USER,
        sf.TRANSFORM_ROLE,
        sf.TRANSFORM_WAREHOUSE,
    )
    assert resource.password is None and resource.private_key_path == keys["transform"][0]
    with resource.get_connection() as connection:
        assert connection.cursor().execute("select 40 + 2").fetchone() == (42,)

    without_key = load_settings({"FINEFINANCE_WAREHOUSE": "snowflake", "FINEFINANCE_SNOWFLAKE_ACCOUNT": "acme"})
    with pytest.raises(SettingsError, match="FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH"):
        snowflake_resources(without_key)


def test_checks_and_alerts_reach_snowflake_through_the_settings(keys, fakesnow_server, monkeypatch, tmp_path):
    """WarehouseResource and the alert audit trail, in snowflake mode, on the emulator."""
    from finefinance_platform.orchestration.alerts import Alert, record_alert
    from finefinance_platform.production.snowflake import connect_snowflake
    from finefinance_platform.settings import get_settings
    from finefinance_platform.warehouse import WarehouseResource

    for name, value in {
        "FINEFINANCE_HOME": str(tmp_path),
        "FINEFINANCE_WAREHOUSE": "snowflake",
        "FINEFINANCE_SNOWFLAKE_ACCOUNT": "fakesnow",
        "FINEFINANCE_SNOWFLAKE_DATABASE": "finefinance_alerts_test",
        "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH": keys["transform"][0],
        "FINEFINANCE_SNOWFLAKE_HOST": "127.0.0.1",
        "FINEFINANCE_SNOWFLAKE_PORT": str(fakesnow_server["port"]),
        "FINEFINANCE_SNOWFLAKE_PROTOCOL": "http",
    }.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    connection = connect_snowflake(settings)
    try:
        connection.cursor().execute("create schema if not exists audit")  # sql/snowflake/010_database.sql
    finally:
        connection.close()

    record_alert(
        Alert(kind="run_failure", severity="ERROR", message="close_month 2025-03 failed", run_id="r1"), settings
    )

    warehouse = WarehouseResource(settings=settings)
    assert warehouse.table_exists("audit", "alerts")
    assert warehouse.query("select kind, severity, run_id, message from audit.alerts") == [
        ("run_failure", "ERROR", "r1", "close_month 2025-03 failed")
    ]
