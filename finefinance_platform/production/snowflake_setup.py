"""`finefinance snowflake setup`: apply sql/snowflake (database, warehouses, roles, grants, masking).

The files are Jinja templates filled from the settings: object names, and the three service
users' public keys read from the files the settings name. No secret is ever rendered. Every
statement is idempotent, so the setup is simply re-run after a change; the run reports how many
statements each file executed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from finefinance_platform.errors import FineFinanceError, SettingsError
from finefinance_platform.settings import REPO_ROOT, Settings

SNOWFLAKE_SQL_DIR = REPO_ROOT / "sql" / "snowflake"

# The platform's Snowflake objects. The settings' defaults for the transformation identity
# (FINEFINANCE_SNOWFLAKE_USER/_ROLE/_WAREHOUSE) are these names; a test keeps them equal.
INGEST_ROLE, TRANSFORM_ROLE, REPORTING_ROLE = (
    "FINEFINANCE_INGEST",
    "FINEFINANCE_TRANSFORM",
    "FINEFINANCE_REPORTING",
)
INGEST_USER, TRANSFORM_USER, REPORTING_USER = (
    "FINEFINANCE_INGEST_USER",
    "FINEFINANCE_TRANSFORM_USER",
    "FINEFINANCE_REPORTING_USER",
)
INGEST_WAREHOUSE, TRANSFORM_WAREHOUSE, REPORTING_WAREHOUSE = (
    "FINEFINANCE_INGEST_WH",
    "FINEFINANCE_TRANSFORM_WH",
    "FINEFINANCE_REPORTING_WH",
)
AIRBYTE_INTERNAL_SCHEMA = "AIRBYTE_INTERNAL"
WAREHOUSE_SCHEMAS = ("raw", "staging", "intermediate", "snapshots", "marts")
# masked for every role but transformation; governance.mask_<column> exists for each
PERSONAL_COLUMNS = ("firstname", "surname", "email")

_PEM_LINE = re.compile(r"^-----(BEGIN|END) [A-Z ]+-----$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def public_key_body(path: Path, setting: str) -> str:
    """The base64 body of a PEM public key file, as RSA_PUBLIC_KEY wants it."""
    if not path.is_file():
        raise SettingsError(f"{setting}={path} is not a file")
    text = path.read_text().strip()
    if "PRIVATE KEY" in text:
        raise SettingsError(f"{setting}={path} holds a private key: give the public one (.pub)")
    body = "".join(line.strip() for line in text.splitlines() if not _PEM_LINE.match(line.strip()))
    # only base64 reaches the SQL: nothing in a key file can close the quoted literal
    if not body or not _BASE64.match(body):
        raise SettingsError(f"{setting}={path} is not a PEM public key")
    return body


def template_variables(settings: Settings) -> dict[str, str]:
    snowflake = settings.snowflake
    if not _IDENTIFIER.match(snowflake.database):
        raise SettingsError(f"FINEFINANCE_SNOWFLAKE_DATABASE={snowflake.database!r} is not a plain identifier")
    keys = {}
    for identity in ("ingest", "transform", "reporting"):
        setting = f"FINEFINANCE_SNOWFLAKE_{identity.upper()}_PUBLIC_KEY_PATH"
        path = getattr(snowflake, f"{identity}_public_key_path")
        if path is None:
            raise SettingsError(f"`finefinance snowflake setup` needs {setting} (the {identity} user's public key)")
        keys[f"{identity}_public_key"] = public_key_body(path, setting)
    return {
        "database": snowflake.database,
        "airbyte_internal_schema": AIRBYTE_INTERNAL_SCHEMA,
        "ingest_role": INGEST_ROLE,
        "transform_role": TRANSFORM_ROLE,
        "reporting_role": REPORTING_ROLE,
        "ingest_user": INGEST_USER,
        "transform_user": TRANSFORM_USER,
        "reporting_user": REPORTING_USER,
        "ingest_warehouse": INGEST_WAREHOUSE,
        "transform_warehouse": TRANSFORM_WAREHOUSE,
        "reporting_warehouse": REPORTING_WAREHOUSE,
        **keys,
    }


@dataclass(frozen=True)
class SetupFile:
    path: Path
    statements: tuple[str, ...]


def split_statements(sql: str) -> tuple[str, ...]:
    """Statements without comments, split the way the Snowflake connector splits a script."""
    from snowflake.connector.util_text import split_statements as connector_split

    return tuple(
        statement.strip().rstrip(";").strip()
        for statement, _is_put_or_get in connector_split(io.StringIO(sql), remove_comments=True)
        if statement.strip().rstrip(";").strip()
    )


def render_setup(settings: Settings, sql_dir: Path = SNOWFLAKE_SQL_DIR) -> list[SetupFile]:
    """Every file of sql/snowflake, in name order, rendered and split into statements."""
    variables = template_variables(settings)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    files = []
    for path in sorted(sql_dir.glob("*.sql")):
        try:
            rendered = environment.from_string(path.read_text()).render(**variables)
        except jinja2.UndefinedError as exc:
            raise FineFinanceError(f"{path.name}: unknown template variable ({exc.message})") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise FineFinanceError(f"{path.name}, line {exc.lineno}: {exc.message}") from exc
        files.append(SetupFile(path, split_statements(rendered)))
    if not files:
        raise FineFinanceError(f"no .sql file in {sql_dir}")
    return files


def connection_parameters(settings: Settings, identity: str = "transform") -> dict[str, Any]:
    """Snowflake connector arguments for `admin` (setup), `transform` (dbt, Dagster) or `reporting`
    (the readers: dashboards, statement service, statement CLI, export): key pair only."""
    snowflake = settings.snowflake
    if identity == "admin":
        user, role, warehouse = snowflake.admin_user, snowflake.admin_role, None
        key_path, passphrase = snowflake.admin_private_key_path, snowflake.admin_private_key_passphrase
        prefix = "FINEFINANCE_SNOWFLAKE_ADMIN_"
    elif identity == "reporting":
        user, role, warehouse = snowflake.reporting_user, snowflake.reporting_role, snowflake.reporting_warehouse
        key_path, passphrase = snowflake.reporting_private_key_path, snowflake.reporting_private_key_passphrase
        prefix = "FINEFINANCE_SNOWFLAKE_REPORTING_"
    elif identity == "transform":
        user, role, warehouse = snowflake.user, snowflake.role, snowflake.warehouse
        key_path, passphrase = snowflake.private_key_path, snowflake.private_key_passphrase
        prefix = "FINEFINANCE_SNOWFLAKE_"
    else:
        raise ValueError(f"unknown Snowflake identity {identity!r}")
    missing = [
        name
        for name, value in (
            ("FINEFINANCE_SNOWFLAKE_ACCOUNT", snowflake.account),
            (f"{prefix}USER", user),
            (f"{prefix}PRIVATE_KEY_PATH", key_path),
        )
        if not value
    ]
    if missing:
        raise SettingsError(f"the Snowflake connection ({identity}) needs {', '.join(missing)}")
    if not key_path.is_file():
        raise SettingsError(f"{prefix}PRIVATE_KEY_PATH={key_path} is not a file")
    parameters: dict[str, Any] = {
        "account": snowflake.account,
        "user": user,
        "role": role,
        "private_key_file": str(key_path),
        "application": "finefinance",
    }
    if passphrase:
        parameters["private_key_file_pwd"] = passphrase
    if warehouse:
        parameters["warehouse"] = warehouse
    if identity != "admin":
        parameters["database"] = snowflake.database
    if snowflake.host:
        parameters.update(host=snowflake.host, protocol=snowflake.protocol)
    if snowflake.port:
        parameters["port"] = snowflake.port
    return parameters


@dataclass(frozen=True)
class FileReport:
    name: str
    statements_run: int


def apply_setup(
    settings: Settings,
    connection: Any | None = None,
    on_statement: Callable[[str, str], None] | None = None,
) -> list[FileReport]:
    """Run every rendered statement; stop at the first failure, naming the file and statement."""
    files = render_setup(settings)  # all templates render before anything is sent
    owns_connection = connection is None
    if owns_connection:
        import snowflake.connector

        connection = snowflake.connector.connect(**connection_parameters(settings, "admin"))
    reports = []
    try:
        cursor = connection.cursor()
        for setup_file in files:
            for number, statement in enumerate(setup_file.statements, start=1):
                if on_statement:
                    on_statement(setup_file.path.name, statement)
                try:
                    cursor.execute(statement)
                except Exception as exc:  # the connector's errors carry the Snowflake message
                    first_line = " ".join(statement.split())[:160]
                    raise FineFinanceError(
                        f"{setup_file.path.name}, statement {number} failed: {exc} -- {first_line}"
                    ) from exc
            reports.append(FileReport(setup_file.path.name, len(setup_file.statements)))
    finally:
        if owns_connection:
            connection.close()
    return reports
