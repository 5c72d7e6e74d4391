"""The production warehouse for the platform's own Python: checks, alerts and the CLI.

`WarehouseResource` (finefinance_platform/warehouse.py) and the alert audit trail
(orchestration/alerts.py) call these when FINEFINANCE_WAREHOUSE=snowflake. They connect as the
transformation identity (key pair, its role and warehouse), like dbt.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from finefinance_platform.production.snowflake_setup import connection_parameters
from finefinance_platform.settings import Settings

# the schema is created by sql/snowflake/010_database.sql, where the transformation role may
# create tables (030_grants.sql); the columns are those of the DuckDB audit table
AUDIT_TABLE_DDL = """
create table if not exists audit.alerts (
    alerted_at timestamp_ntz not null,
    kind varchar not null,
    severity varchar not null,
    run_id varchar,
    asset_key varchar,
    check_name varchar,
    message varchar not null
)
"""
AUDIT_COLUMNS = ("alerted_at", "kind", "severity", "run_id", "asset_key", "check_name", "message")


def connect_snowflake(settings: Settings) -> Any:
    """A Snowflake connector connection (pyformat parameters: `%s`) in the platform's database."""
    import snowflake.connector

    return snowflake.connector.connect(**connection_parameters(settings, "transform"))


def write_audit_alerts(settings: Settings, alerts: list[dict]) -> None:
    """Append alerts (dicts with AUDIT_COLUMNS) to audit.alerts, creating the table on first use."""
    if not alerts:
        return
    with closing(connect_snowflake(settings)) as connection:
        cursor = connection.cursor()
        cursor.execute(AUDIT_TABLE_DDL)
        cursor.executemany(
            f"insert into audit.alerts ({', '.join(AUDIT_COLUMNS)}) values ({', '.join(['%s'] * len(AUDIT_COLUMNS))})",
            [[alert.get(column) for column in AUDIT_COLUMNS] for alert in alerts],
        )
