"""The one place that reads the environment.

Every other module asks `get_settings()`; nothing else touches `os.environ`. With nothing set, the
platform runs on its embedded defaults: a PostgreSQL started from the pgserver wheel under
`.finefinance/postgres`, dlt ingestion, and the DuckDB warehouse `.finefinance/warehouse.duckdb`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

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


class FineFinanceError(Exception):
    """An error the user can act on: the CLI prints its message on one line and exits non-zero."""


class SettingsError(FineFinanceError, ValueError):
    """A setting from the environment (or an option) is missing or malformed; the message names it."""


def _choice(env: dict, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def parse_month(value: str, setting: str = "month") -> dt.date:
    """'2025-03' or '2025-03-01' -> date(2025, 3, 1); a clear error for anything else."""
    text = value.strip()
    for fmt in ("%Y-%m", "%Y-%m-%d"):
        try:
            parsed = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if parsed.day != 1:
            raise SettingsError(f"{setting}={value!r} is not the first day of a month")
        return parsed
    raise SettingsError(f"{setting}={value!r} is not a month (expected YYYY-MM)")


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def current_month(today: dt.date | None = None) -> dt.date:
    today = today or dt.datetime.now(dt.UTC).date()
    return today.replace(day=1)


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
    extra: dict = field(default_factory=dict)
    # signs customers' statement tokens (HTTP service); when unset, the embedded demo keeps a
    # generated secret under FINEFINANCE_HOME (see delivery/tokens.py)
    statement_secret: str | None = None

    # -- source -------------------------------------------------------------------------------
    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def embedded_source(self) -> bool:
        return self.source_url_override is None

    def source_url(self, *, reader: bool = False, database: str = SOURCE_DATABASE) -> str:
        """SQLAlchemy/libpq URL of the operational source; `reader` gives the read-only role."""
        if self.source_url_override:
            if reader and self.extra.get("source_reader_url"):
                return self.extra["source_reader_url"]
            return self.source_url_override
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

    # -- warehouse ----------------------------------------------------------------------------
    @property
    def dbt_profiles_dir(self) -> Path:
        return DBT_PROJECT_DIR

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def load_settings(env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("FINEFINANCE_HOME", REPO_ROOT / ".finefinance")).resolve()
    warehouse = _choice(env, "FINEFINANCE_WAREHOUSE", "duckdb", ("duckdb", "snowflake"))
    ingestion = _choice(env, "FINEFINANCE_INGESTION", "dlt", ("dlt", "airbyte"))

    port_text = env.get("FINEFINANCE_SOURCE_PORT")
    try:
        source_port = int(port_text) if port_text else None
    except ValueError as exc:
        raise SettingsError(f"FINEFINANCE_SOURCE_PORT={port_text!r} is not a port number") from exc
    if source_port is not None and not 1 <= source_port <= 65535:
        raise SettingsError(f"FINEFINANCE_SOURCE_PORT={port_text!r} is not a port number")

    # The embedded simulator's period ends with the current month, 24 months by default: the
    # partitions start where that period starts unless production pins FINEFINANCE_FIRST_MONTH.
    first_month_text = env.get("FINEFINANCE_FIRST_MONTH")
    first_month = (
        parse_month(first_month_text, "FINEFINANCE_FIRST_MONTH")
        if first_month_text
        else add_months(current_month(), -23)
    )

    extra = {}
    if env.get("FINEFINANCE_SOURCE_READER_URL"):
        extra["source_reader_url"] = env["FINEFINANCE_SOURCE_READER_URL"]

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
        extra=extra,
        statement_secret=env.get("FINEFINANCE_STATEMENT_SECRET") or None,
    )


def get_settings() -> Settings:
    # not cached: cheap, and tests (and the CLI's options) change the environment between calls
    return load_settings()
