"""Security (issue 7): ingestion reads through the read-only role, no secret in the repository,
credentials from the environment only, the statement service gives a customer only their own
statements whatever SQL metacharacters a caller puts in any parameter, and the directors' KPI marts
hold no personal column. (Snowflake masking of names and emails for the reporting role is tested
on the rendered setup SQL and on dbt's statements: tests/integration/test_production_snowflake_setup.py and
tests/integration/test_production_snowflake_parity.py.)"""

from __future__ import annotations

import ast
import json
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg2
import pytest
import yaml
from dagster import materialize
from helpers.delivery_fixtures import (
    identity_provider,
    make_delivery_home,
    serve_statements,
    token_signed_by_provider,
    uid,
)
from helpers.environment import platform_env, reader_dsn

from finefinance_platform.ingestion import ingestion_resources
from finefinance_platform.settings import DBT_PROJECT_DIR, REPO_ROOT, get_settings, load_settings
from finefinance_platform.source.tables import SOURCE_TABLES

PERSONAL_COLUMNS = {
    "customer_id",
    "firstname",
    "surname",
    "email",
    "account_id",
    "advisor_id",
    "transaction_id",
    "description",
    "counterparty",
    "phone",
    "address",
    "iban",
}


# -- ingestion's role -------------------------------------------------------------------------------


def test_ingestion_connects_as_the_read_only_role_which_cannot_write(source_dsn, tmp_path, monkeypatch):
    from finefinance_platform.ingestion import dlt_ingestion

    # the owner's password is wrong: the ingestion succeeds only if it never uses the owner
    owner_password = get_settings().source_superuser_password
    with platform_env(
        monkeypatch, source_dsn.replace(owner_password, "not-the-owner-password"), tmp_path / "warehouse.duckdb"
    ):
        monkeypatch.setenv("FINEFINANCE_SOURCE_READER_URL", reader_dsn(source_dsn))
        assert materialize([dlt_ingestion.raw_tables()], resources=ingestion_resources(get_settings())).success
        # and with the reader's password wrong, it cannot connect at all
        monkeypatch.setenv(
            "FINEFINANCE_SOURCE_READER_URL",
            reader_dsn(source_dsn).replace(get_settings().source_reader_password, "wrong"),
        )
        monkeypatch.setattr(dlt_ingestion, "SOURCE_CONNECT_ATTEMPTS", 1)
        ingestion = [dlt_ingestion.raw_tables()]
        failed = materialize(ingestion, resources=ingestion_resources(get_settings()), raise_on_error=False)
        assert not failed.success
        assert "finefinance_reader" in failed.get_step_failure_events()[0].event_specific_data.error.message

    with closing(psycopg2.connect(source_dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "select rolsuper, rolcreaterole, rolcreatedb, rolconfig from pg_roles where rolname = 'finefinance_reader'"
        )
        superuser, create_role, create_db, config = cur.fetchone()
        assert (superuser, create_role, create_db) == (False, False, False)
        assert "default_transaction_read_only=on" in config
        for table in SOURCE_TABLES:
            cur.execute(
                "select has_table_privilege('finefinance_reader', %s, 'SELECT'), "
                "has_table_privilege('finefinance_reader', %s, 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES')",
                (table.qualified_name, table.qualified_name),
            )
            assert cur.fetchone() == (True, False), table.qualified_name
    # writing through the reader is refused (tests/integration/test_source_postgres.py tries it with the
    # read-only default switched off)


# -- secrets ----------------------------------------------------------------------------------------


def test_no_secret_in_the_repository():
    """detect-secrets over every tracked file finds nothing beyond the audited baseline: the
    embedded services' loopback-only defaults and test fixtures (docs/reliability.md)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    files = [f for f in tracked.stdout.splitlines() if f != ".secrets.baseline" and (REPO_ROOT / f).is_file()]
    assert len(files) > 100
    # detect-secrets' own defaults (those of `detect-secrets scan`), one file after the other: its CLI
    # spreads the files over a multiprocessing pool, which hung in loaded runs (twice: past 300 s)
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(REPO_ROOT))
    with default_settings():
        for name in files:
            collection.scan_file(name)
    found = collection.json()
    baseline = json.loads((REPO_ROOT / ".secrets.baseline").read_text())
    audited = {
        (name, item["type"], item["hashed_secret"]) for name, items in baseline["results"].items() for item in items
    }
    assert all(item.get("is_secret") is False for items in baseline["results"].values() for item in items)
    new = [
        f"{name}:{item['line_number']} {item['type']}"
        for name, items in found.items()
        for item in items
        if (name, item["type"], item["hashed_secret"]) not in audited
    ]
    assert new == [], (
        "possible secrets (move them to the environment; a false positive goes into .secrets.baseline with "
        "`detect-secrets scan --baseline .secrets.baseline $(git ls-files)` and `detect-secrets audit`): "
        + ", ".join(new)
    )


def _environment_read(node: ast.AST) -> str | None:
    """The variable an `os.environ.get(X)`, `os.environ[X]` or `os.getenv(X)` reads ('?' if not a literal)."""

    def is_environ(value) -> bool:
        return isinstance(value, ast.Attribute) and value.attr == "environ" and getattr(value.value, "id", "") == "os"

    def literal(argument) -> str:
        return argument.value if isinstance(argument, ast.Constant) else "?"

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        if node.func.attr == "get" and is_environ(node.func.value):
            return literal(node.args[0])
        if node.func.attr == "getenv" and getattr(node.func.value, "id", "") == "os":
            return literal(node.args[0])
    if isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
        return literal(node.slice)
    return None


def test_credentials_come_from_the_environment_only():
    # only settings.py reads the environment (others may hand values on to a child, or read PATH)
    reads = []
    for path in (REPO_ROOT / "finefinance_platform").rglob("*.py"):
        if path.name == "settings.py" and path.parent.name == "finefinance_platform":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            key = _environment_read(node)
            if key is not None and key != "PATH":
                reads.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} reads {key}")
    assert reads == []

    # made-up values, only to see where each one lands
    env = {
        "FINEFINANCE_HOME": "/tmp/ff-security-check",
        "FINEFINANCE_SOURCE_URL": "postgresql://owner:owner-from-env@db.example/ff",  # pragma: allowlist secret
        "FINEFINANCE_SOURCE_READER_URL": "postgresql://finefinance_reader:reader-env@db/ff",  # pragma: allowlist secret
        "FINEFINANCE_OIDC_ISSUER": "https://login.bank.example/realms/finefinance",
        "FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET": "dashboards-from-env",  # pragma: allowlist secret
        "FINEFINANCE_DASHBOARD_COOKIE_SECRET": "cookie-from-env",  # pragma: allowlist secret
        "FINEFINANCE_SLACK_TOKEN": "xoxb-from-env",
        "FINEFINANCE_AIRBYTE_CLIENT_SECRET": "airbyte-from-env",  # pragma: allowlist secret
        "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "passphrase-from-env",  # pragma: allowlist secret
    }
    settings = load_settings(env)
    assert "owner-from-env" in settings.source_url() and "reader-env" in settings.source_url(reader=True)
    assert settings.identity.dashboard_client_secret == env["FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET"]
    assert settings.identity.cookie_secret == env["FINEFINANCE_DASHBOARD_COOKIE_SECRET"]
    assert not settings.identity.embedded  # an issuer from the environment: no embedded provider
    assert settings.slack_token == env["FINEFINANCE_SLACK_TOKEN"]
    assert settings.airbyte.client_secret == env["FINEFINANCE_AIRBYTE_CLIENT_SECRET"]
    assert settings.snowflake.private_key_passphrase == env["FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    # the built-in defaults serve only the embedded source; they never reach an external one
    defaults = load_settings({"FINEFINANCE_HOME": "/tmp/ff-security-check"})
    for password in (defaults.source_superuser_password, defaults.source_reader_password):
        assert password not in settings.source_url() + settings.source_url(reader=True)
    assert "@127.0.0.1:" in defaults.source_url() and "@127.0.0.1:" in defaults.source_url(reader=True)
    # no password in the SQL the repository ships
    for sql in (REPO_ROOT / "sql").rglob("*.sql"):
        assert "password '" not in sql.read_text().lower(), sql


def test_the_embedded_source_listens_on_loopback_only(embedded_postgres):
    with closing(psycopg2.connect(get_settings().source_url(database="postgres"))) as conn, conn.cursor() as cur:
        cur.execute("show listen_addresses")
        assert cur.fetchone()[0] == "127.0.0.1"


# -- the statement service under SQL metacharacters ------------------------------------------------

PAYLOADS = [
    "' or '1'='1",
    "' or 1=1 --",
    "'; drop table marts.fct_monthly_statement; --",
    '" or ""="',
    "') or ('1'='1",
    "' union select firstname, surname from marts.dim_customer --",
    "1; select pg_sleep(5)",
    "2026-01' or '1'='1",
    "\\'; delete from marts.fct_statement_line; --",
    "*/ or /*",
    "$$ or 1=1 $$",
    "%' or customer_id like '%",
    "`; attach '/etc/passwd' as x; --",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = make_delivery_home(tmp_path_factory.mktemp("attacked-home"))
    with (
        identity_provider(home) as provider,
        serve_statements(home) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client, home, provider


def test_the_embedded_identity_provider_listens_on_loopback_only_and_keeps_its_keys_private(service):
    _, _, provider = service
    port = provider.status().port
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    addresses = {
        local for _, local, _, state, *_ in listening if state == "0A" and int(local.split(":")[1], 16) == port
    }
    assert addresses == {"0100007F:" + f"{port:04X}"}  # 127.0.0.1 only
    assert provider.state_file.stat().st_mode & 0o077 == 0
    # the published keys are public ones: no private part of the signing key leaves the provider
    keys = httpx.get(f"{provider.issuer()}/oauth/jwks.json", timeout=10).json()["keys"]
    assert keys and all("d" not in key and "p" not in key for key in keys)


def test_sql_metacharacters_in_every_parameter_reach_nothing(service):
    client, home, provider = service

    def _bearer(customer_id: str) -> dict:
        # validly signed by the provider: the attack is in the claim every query is filtered on
        return {"Authorization": f"Bearer {token_signed_by_provider(provider, customer_id=customer_id)}"}

    alice = _bearer(uid("alice"))
    month = f"{home.months[-1]:%Y-%m}"
    own_list = client.get("/statements", headers=alice).json()
    own_csv = client.get(f"/statements/{month}.csv", headers=alice).text
    others = ("Bruno", "Chloe", "Emma", uid("bruno"), uid("chloe"))
    attacks = 0

    def attack(path: str, headers: dict, expected: set[int]) -> httpx.Response:
        nonlocal attacks
        attacks += 1
        request = client.build_request("GET", "/", headers=headers)
        request.url = request.url.copy_with(raw_path=path.encode())
        response = client.send(request)
        assert response.status_code in expected, (path, response.status_code, response.text[:300])
        return response

    for payload in PAYLOADS:
        quoted = quote(payload, safe="")
        # 1. the token's customer id (every query is filtered on it)
        injected = _bearer(payload)
        listed = attack("/statements", injected, {200})
        assert listed.json()["statements"] == []
        for fmt in ("pdf", "csv"):
            attack(f"/statements/{month}.{fmt}", injected, {404})
        # 2. the month in the path
        for fmt in ("pdf", "csv"):
            attack(f"/statements/{quoted}.{fmt}", alice, {404})
        # 3. query parameters naming another customer or month are not parameters of the service
        for path in (f"/statements?customer_id={quoted}", f"/statements?customer_id={uid('bruno')}&month={quoted}"):
            assert attack(path, alice, {200}).json() == own_list
        assert attack(f"/statements/{month}.csv?customer_id={quoted}", alice, {200}).text == own_csv

    assert attacks == len(PAYLOADS) * 8 >= 100
    # nothing leaked, nothing was changed: Alice still gets exactly her own statements
    assert client.get("/statements", headers=alice).json() == own_list
    assert client.get(f"/statements/{month}.csv", headers=alice).text == own_csv
    assert not [name for name in others if name in own_csv]
    assert client.get("/health").json() == {"status": "ok"}


# -- personal data ----------------------------------------------------------------------------------


def test_the_directors_kpi_marts_hold_no_personal_column(xs_platform):
    import duckdb

    contracts = {}
    for path in (DBT_PROJECT_DIR / "models" / "marts" / "kpis").glob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            contracts[model["name"]] = {column["name"] for column in model["columns"]}
    assert set(contracts) == {"kpi_monthly_growth", "kpi_customers_per_profile", "kpi_transactions_per_month"}
    for name, columns in contracts.items():
        assert not columns & PERSONAL_COLUMNS, name
    # the contracts are enforced, so the tables hold exactly these columns
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] in contracts:
            assert node["config"]["contract"]["enforced"], node["name"]
    with duckdb.connect(str(xs_platform["warehouse"]), read_only=True) as con:
        for name, columns in contracts.items():
            actual = {
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ?",
                    [name],
                ).fetchall()
            }
            assert actual == columns, name
