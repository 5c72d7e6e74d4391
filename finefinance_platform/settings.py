"""The one place that reads the environment.

Only the edges call `get_settings()` (the commands, the code location's definitions, the dashboards'
entry; tests/unit/test_settings_edges.py lists them) and pass the settings down; nothing else touches
`os.environ`. With nothing set, the platform runs on its embedded defaults: a PostgreSQL started
from the pgserver wheel under `.finefinance/postgres`, dlt ingestion, and the DuckDB warehouse
`.finefinance/warehouse.duckdb`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from finefinance_platform.errors import SettingsError
from finefinance_platform.months import add_months, current_month, parse_month

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
POSTGRES_DDL_DIR = REPO_ROOT / "sql" / "postgres"

SOURCE_DATABASE = "finefinance"
SOURCE_READER_ROLE = "finefinance_reader"
SOURCE_SCHEMAS = ("crm", "banking", "product")
DEFAULT_EMBEDDED_PORT = 55432

# Local defaults are only for the embedded services, which listen on loopback only; anything
# reachable from elsewhere takes its credentials from the environment.
_EMBEDDED_SUPERUSER_PASSWORD = "finefinance-embedded"
_EMBEDDED_READER_PASSWORD = "finefinance-reader-embedded"


def _choice(env: dict, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class SnowflakeSettings:
    """Production warehouse (FINEFINANCE_WAREHOUSE=snowflake): connection, identities, setup inputs.

    Key-pair authentication only: every identity names a private key file, never a password.
    """

    account: str | None
    database: str
    # the transformation identity, used by dbt and by Dagster's SnowflakeResource
    user: str
    role: str
    warehouse: str
    private_key_path: Path | None
    private_key_passphrase: str | None
    # the administrator that applies sql/snowflake (`finefinance snowflake setup`)
    admin_user: str | None
    admin_role: str
    admin_private_key_path: Path | None
    admin_private_key_passphrase: str | None
    # public keys the setup sets as RSA_PUBLIC_KEY of the three service users
    ingest_public_key_path: Path | None
    transform_public_key_path: Path | None
    reporting_public_key_path: Path | None
    # the ingestion identity's private key, handed to Airbyte's Snowflake destination
    ingest_private_key_path: Path | None
    ingest_private_key_passphrase: str | None
    # a non-default endpoint (PrivateLink, or the fakesnow emulator in tests)
    host: str | None
    port: int | None
    protocol: str
    # the reporting identity: dashboards, statement service, statement CLI and export read the marts
    # and delivery.statement_issues, and append to audit.access_log, as this user (nothing else)
    reporting_user: str = "FINEFINANCE_REPORTING_USER"
    reporting_role: str = "FINEFINANCE_REPORTING"
    reporting_warehouse: str = "FINEFINANCE_REPORTING_WH"
    reporting_private_key_path: Path | None = None
    reporting_private_key_passphrase: str | None = None


@dataclass(frozen=True)
class AirbyteSettings:
    """Production ingestion (FINEFINANCE_INGESTION=airbyte) through Airbyte's public API."""

    url: str
    workspace_id: str | None
    client_id: str | None
    client_secret: str | None
    poll_interval: float
    # the operational PostgreSQL as Airbyte reaches it (from inside its cluster the host often
    # differs from ours, e.g. host.docker.internal); defaults to the source URL's host and port
    source_host: str | None
    source_port: int | None

    @property
    def rest_api_base_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/public/v1"

    @property
    def configuration_api_base_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/v1"


@dataclass(frozen=True)
class IdentitySettings:
    """Sign-in (OpenID Connect) for the dashboards and the statement service (docs/access.md).

    With no FINEFINANCE_OIDC_ISSUER the platform starts its embedded provider (Canaille, on
    loopback, state under <home>/identity) and keeps its generated client secrets there; in
    production every value below comes from the environment.
    """

    issuer: str | None  # None: the embedded provider
    embedded_port: int | None
    dashboard_client_id: str
    dashboard_client_secret: str | None
    # the audience the statement service requires in access tokens (its client id at the provider)
    api_audience: str
    # signs Streamlit's identity cookie; the embedded mode generates one under <home>/identity
    cookie_secret: str | None
    # where the provider sends people back after sign-in; {port} is the dashboard's port
    dashboard_redirect_uri: str

    @property
    def embedded(self) -> bool:
        return self.issuer is None


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse: str  # duckdb | snowflake
    ingestion: str  # dlt | airbyte
    source_url_override: str | None
    source_port: int | None
    source_superuser_password: str
    source_reader_password: str
    duckdb_path: Path
    first_month: dt.date
    dbt_target: str
    slack_token: str | None
    slack_channel: str | None
    source_reader_url_override: str | None = None
    # DuckDB's buffer pool for dbt and ingestion (FINEFINANCE_DUCKDB_MEMORY_LIMIT): beyond it DuckDB
    # spills to disk. Unbounded, the month backfill at scale M peaked at 7 GB; with 1GB it ran no
    # slower (docs/benchmarks.md)
    duckdb_memory_limit: str = "1GB"
    # production connections (docs/production.md); the defaults are the unconfigured state
    snowflake: SnowflakeSettings = field(default_factory=lambda: load_snowflake_settings({}))
    airbyte: AirbyteSettings = field(default_factory=lambda: load_airbyte_settings({}))
    identity: IdentitySettings = field(default_factory=lambda: load_identity_settings({}))
    # where statement documents go (FINEFINANCE_STATEMENTS_URL): an fsspec URL such as
    # s3://bucket/statements in production; empty means <home>/statements
    statements_url: str = ""
    # loaded by `dagster dev` (DAGSTER_IS_DEV_CLI, set by Dagster): the dbt manifest is prepared
    # again there when a dbt file changed
    under_dagster_dev: bool = False

    # -- source -------------------------------------------------------------------------------
    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def embedded_source(self) -> bool:
        return self.source_url_override is None

    def source_url(self, *, reader: bool = False, database: str = SOURCE_DATABASE) -> str:
        """libpq URL of the operational source; `reader` gives the read-only ingestion role.

        With an external source and no FINEFINANCE_SOURCE_READER_URL, the reader is the same server
        as the role the migrations create (finefinance_reader, its password from the settings):
        ingestion never reads with the owner's rights.
        """
        if self.source_url_override:
            if not reader:
                return self.source_url_override
            if self.source_reader_url_override:
                return self.source_reader_url_override
            parts = urlsplit(self.source_url_override)
            host = parts.netloc.rsplit("@", 1)[-1]
            netloc = f"{SOURCE_READER_ROLE}:{quote(self.source_reader_password, safe='')}@{host}"
            return urlunsplit(parts._replace(netloc=netloc))
        port = self.embedded_port()
        if reader:
            user, password = SOURCE_READER_ROLE, self.source_reader_password
        else:
            user, password = "postgres", self.source_superuser_password
        return f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"

    def embedded_port(self) -> int:
        """The port the embedded server listens on, as recorded when it last started.

        Before any start this is the configured (or default) port: a connection then fails with
        "connection refused", which callers report as "the source is down", rather than failing
        to load the definitions.
        """
        state = self.postgres_dir / "server.json"
        if state.exists():
            return int(json.loads(state.read_text())["port"])
        return self.source_port or DEFAULT_EMBEDDED_PORT

    @property
    def statements_location(self) -> str:
        """The statement documents' folder or object-store URL (an fsspec URL)."""
        return self.statements_url or str(self.home / "statements")

    # -- warehouse ----------------------------------------------------------------------------
    @property
    def dbt_profiles_dir(self) -> Path:
        return DBT_PROJECT_DIR

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def dbt_environment(self) -> dict[str, str]:
        """What dbt's profiles.yml reads (it can only read the environment)."""
        return {
            "FINEFINANCE_DUCKDB_PATH": str(self.duckdb_path),
            "FINEFINANCE_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            # the raw tables' load-time column (dbt source freshness) is the ingestion tool's own
            "FINEFINANCE_INGESTION": self.ingestion,
        }


def _optional_port(env: dict, name: str) -> int | None:
    """The port number in `name`, or None when it is unset or empty."""
    text = env.get(name)
    if not text:
        return None
    try:
        port = int(text)
    except ValueError as exc:
        raise SettingsError(f"{name}={text!r} is not a port number") from exc
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name}={text!r} is not a port number")
    return port


def _optional_path(env: dict, name: str) -> Path | None:
    text = env.get(name)
    return Path(text).expanduser() if text else None


def _memory_size(env: dict, name: str, default: str) -> str:
    text = env.get(name, default).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, flags=re.IGNORECASE):
        raise SettingsError(f"{name}={text!r} is not a memory size (e.g. 1GB, 512MB)")
    return text


def load_snowflake_settings(env: dict) -> SnowflakeSettings:
    protocol = _choice(env, "FINEFINANCE_SNOWFLAKE_PROTOCOL", "https", ("https", "http"))
    return SnowflakeSettings(
        account=env.get("FINEFINANCE_SNOWFLAKE_ACCOUNT") or None,
        database=env.get("FINEFINANCE_SNOWFLAKE_DATABASE", "FINEFINANCE").upper(),
        user=env.get("FINEFINANCE_SNOWFLAKE_USER", "FINEFINANCE_TRANSFORM_USER"),
        role=env.get("FINEFINANCE_SNOWFLAKE_ROLE", "FINEFINANCE_TRANSFORM"),
        warehouse=env.get("FINEFINANCE_SNOWFLAKE_WAREHOUSE", "FINEFINANCE_TRANSFORM_WH"),
        private_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PATH"),
        private_key_passphrase=env.get("FINEFINANCE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE") or None,
        admin_user=env.get("FINEFINANCE_SNOWFLAKE_ADMIN_USER") or None,
        admin_role=env.get("FINEFINANCE_SNOWFLAKE_ADMIN_ROLE", "ACCOUNTADMIN"),
        admin_private_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_ADMIN_PRIVATE_KEY_PATH"),
        admin_private_key_passphrase=env.get("FINEFINANCE_SNOWFLAKE_ADMIN_PRIVATE_KEY_PASSPHRASE") or None,
        ingest_public_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_INGEST_PUBLIC_KEY_PATH"),
        transform_public_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_TRANSFORM_PUBLIC_KEY_PATH"),
        reporting_public_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_REPORTING_PUBLIC_KEY_PATH"),
        ingest_private_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PATH"),
        ingest_private_key_passphrase=env.get("FINEFINANCE_SNOWFLAKE_INGEST_PRIVATE_KEY_PASSPHRASE") or None,
        host=env.get("FINEFINANCE_SNOWFLAKE_HOST") or None,
        port=_optional_port(env, "FINEFINANCE_SNOWFLAKE_PORT"),
        protocol=protocol,
        reporting_user=env.get("FINEFINANCE_SNOWFLAKE_REPORTING_USER", "FINEFINANCE_REPORTING_USER"),
        reporting_role=env.get("FINEFINANCE_SNOWFLAKE_REPORTING_ROLE", "FINEFINANCE_REPORTING"),
        reporting_warehouse=env.get("FINEFINANCE_SNOWFLAKE_REPORTING_WAREHOUSE", "FINEFINANCE_REPORTING_WH"),
        reporting_private_key_path=_optional_path(env, "FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_PATH"),
        reporting_private_key_passphrase=env.get("FINEFINANCE_SNOWFLAKE_REPORTING_PRIVATE_KEY_PASSPHRASE") or None,
    )


def load_airbyte_settings(env: dict) -> AirbyteSettings:
    interval_text = env.get("FINEFINANCE_AIRBYTE_POLL_INTERVAL", "10")
    try:
        poll_interval = float(interval_text)
    except ValueError as exc:
        raise SettingsError(f"FINEFINANCE_AIRBYTE_POLL_INTERVAL={interval_text!r} is not a number") from exc
    return AirbyteSettings(
        url=env.get("FINEFINANCE_AIRBYTE_URL", "http://localhost:8000"),
        workspace_id=env.get("FINEFINANCE_AIRBYTE_WORKSPACE_ID") or None,
        client_id=env.get("FINEFINANCE_AIRBYTE_CLIENT_ID") or None,
        client_secret=env.get("FINEFINANCE_AIRBYTE_CLIENT_SECRET") or None,
        poll_interval=poll_interval,
        source_host=env.get("FINEFINANCE_AIRBYTE_SOURCE_HOST") or None,
        source_port=_optional_port(env, "FINEFINANCE_AIRBYTE_SOURCE_PORT"),
    )


def load_identity_settings(env: dict) -> IdentitySettings:
    issuer = (env.get("FINEFINANCE_OIDC_ISSUER") or "").strip().rstrip("/") or None
    # a configured provider is reached over https only: its keys decide who is who, and over plain http
    # anyone on the path could serve their own (the embedded provider, on loopback, is used when unset)
    if issuer and not issuer.startswith("https://"):
        raise SettingsError(f"FINEFINANCE_OIDC_ISSUER={issuer!r} must be an https:// URL")
    redirect = env.get("FINEFINANCE_DASHBOARD_REDIRECT_URI", "http://127.0.0.1:{port}/oauth2callback")
    if not redirect.endswith("/oauth2callback"):
        raise SettingsError(f"FINEFINANCE_DASHBOARD_REDIRECT_URI={redirect!r} must end with /oauth2callback")
    return IdentitySettings(
        issuer=issuer,
        embedded_port=_optional_port(env, "FINEFINANCE_IDENTITY_PORT"),
        dashboard_client_id=env.get("FINEFINANCE_OIDC_DASHBOARD_CLIENT_ID", "finefinance-dashboards"),
        dashboard_client_secret=env.get("FINEFINANCE_OIDC_DASHBOARD_CLIENT_SECRET") or None,
        api_audience=env.get("FINEFINANCE_OIDC_API_AUDIENCE", "finefinance-statements"),
        cookie_secret=env.get("FINEFINANCE_DASHBOARD_COOKIE_SECRET") or None,
        dashboard_redirect_uri=redirect,
    )


def load_settings(env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("FINEFINANCE_HOME", REPO_ROOT / ".finefinance")).resolve()
    warehouse = _choice(env, "FINEFINANCE_WAREHOUSE", "duckdb", ("duckdb", "snowflake"))
    ingestion = _choice(env, "FINEFINANCE_INGESTION", "dlt", ("dlt", "airbyte"))
    if ingestion == "airbyte" and warehouse != "snowflake":
        # the Airbyte connection loads Snowflake: dbt would read raw tables nobody writes
        raise SettingsError("FINEFINANCE_INGESTION=airbyte loads Snowflake: set FINEFINANCE_WAREHOUSE=snowflake too")
    source_port = _optional_port(env, "FINEFINANCE_SOURCE_PORT")

    # The embedded simulator's period ends with the current month, 24 months by default: the
    # partitions start where that period starts unless production pins FINEFINANCE_FIRST_MONTH.
    first_month_text = env.get("FINEFINANCE_FIRST_MONTH")
    first_month = (
        parse_month(first_month_text, "FINEFINANCE_FIRST_MONTH")
        if first_month_text
        else add_months(current_month(), -23)
    )

    return Settings(
        home=home,
        warehouse=warehouse,
        ingestion=ingestion,
        source_url_override=env.get("FINEFINANCE_SOURCE_URL") or None,
        source_port=source_port,
        source_superuser_password=env.get("FINEFINANCE_SOURCE_PASSWORD", _EMBEDDED_SUPERUSER_PASSWORD),
        source_reader_password=env.get("FINEFINANCE_SOURCE_READER_PASSWORD", _EMBEDDED_READER_PASSWORD),
        duckdb_path=Path(env.get("FINEFINANCE_DUCKDB_PATH", home / "warehouse.duckdb")).resolve(),
        first_month=first_month,
        dbt_target=env.get("FINEFINANCE_DBT_TARGET", warehouse),
        slack_token=env.get("FINEFINANCE_SLACK_TOKEN") or None,
        slack_channel=env.get("FINEFINANCE_SLACK_CHANNEL") or None,
        source_reader_url_override=env.get("FINEFINANCE_SOURCE_READER_URL") or None,
        duckdb_memory_limit=_memory_size(env, "FINEFINANCE_DUCKDB_MEMORY_LIMIT", "1GB"),
        snowflake=load_snowflake_settings(env),
        airbyte=load_airbyte_settings(env),
        identity=load_identity_settings(env),
        statements_url=env.get("FINEFINANCE_STATEMENTS_URL", ""),
        under_dagster_dev=bool(env.get("DAGSTER_IS_DEV_CLI")),
    )


def child_environment(overrides: dict[str, str | None], path_prefix: Path | None = None) -> dict[str, str]:
    """This process's environment with `overrides` applied (None removes a variable).

    For commands that run the platform in child processes under other settings (the benchmark runs
    every step in a fresh process on its own FINEFINANCE_HOME); `path_prefix` goes first on PATH
    (the virtualenv's bin, where dagster-dbt looks for `dbt`).
    """
    env = dict(os.environ)
    if path_prefix is not None:
        env["PATH"] = os.pathsep.join(filter(None, [str(path_prefix), env.get("PATH")]))
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def get_settings() -> Settings:
    # not cached: cheap, and tests (and the CLI's options) change the environment between calls
    return load_settings()
