"""The docker-compose deployment, checked without a Docker engine.

- docker-compose.yml against the Compose Specification's JSON schema. tests/data/compose-spec.json
  is the schema shipped in the `docker-compose` 1.29.2 wheel on PyPI
  (compose/config/compose_spec.json, Apache-2.0): strict (no unknown keys), if older than the
  current spec, so the compose file keeps to keys both know.
- deploy/dagster.yaml through Dagster's own instance-config validation, then as a real instance
  on the session's PostgreSQL: storage tables created, run queue and limits as configured.
- .env.example lists every variable and holds no secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from contextlib import closing
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
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "PASSPHRASE", "CLIENT_ID")
DAGSTER_STORAGE_VARS = ("DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_PORT", "DAGSTER_POSTGRES_DB",
                        "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD")  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_schema(compose):
    schema = json.loads((REPO_ROOT / "tests" / "data" / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # the schema is strict: a misspelt key is caught
    broken = {**compose, "services": {**compose["services"], "daemon": {"imagee": "x"}}}
    assert list(validator_class(schema).iter_errors(broken))


def test_compose_services_form_the_deployment(compose):
    services = compose["services"]
    assert set(services) == {
        "source-postgres", "source-migrate", "dagster-postgres", "code-location", "webserver", "daemon",
        "keycloak-postgres", "keycloak", "dashboards", "statements",
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
    (published,) = reader["ports"]
    assert published.endswith(f":{port}")
    health = " ".join(reader["healthcheck"]["test"])
    path = "/_stcore/health" if service == "dashboards" else "/health"
    assert f"http://127.0.0.1:{port}{path}" in health


def test_the_statement_service_answers_its_health_check():
    from fastapi.testclient import TestClient

    from finefinance_platform.delivery.http_service import create_app

    # any issuer: the health check needs no token, and the provider is not asked until one comes
    with TestClient(create_app(issuer="https://login.invalid/realms/finefinance")) as client:
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

    realm = json.loads((DEPLOY / "keycloak" / "finefinance-realm.json").read_text())
    assert realm["realm"] == "finefinance" and not realm["registrationAllowed"]
    assert {role["name"] for role in realm["roles"]["realm"]} == {
        r.value for r in (Role.CUSTOMER, Role.ADVISOR, Role.DIRECTOR)
    }
    (scope,) = realm["clientScopes"]
    claims = {m["config"]["claim.name"]: m for m in scope["protocolMappers"]}
    assert set(claims) == {"role", "customer_id", "advisor_id"}
    assert claims["role"]["protocolMapper"] == "oidc-usermodel-realm-role-mapper"
    for mapper in claims.values():
        assert mapper["config"]["id.token.claim"] == mapper["config"]["access.token.claim"] == "true"
    clients = {client["name"]: client for client in realm["clients"]}
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
