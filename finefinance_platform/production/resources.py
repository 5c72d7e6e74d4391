"""Dagster resources of the production warehouse (FINEFINANCE_WAREHOUSE=snowflake)."""

from __future__ import annotations

from dagster_snowflake import SnowflakeResource

from finefinance_platform.production.snowflake_setup import connection_parameters
from finefinance_platform.settings import Settings


def snowflake_resources(settings: Settings) -> dict:
    """`{"snowflake": SnowflakeResource}` as the transformation identity (key pair, its warehouse).

    The Python checks and IO that read the warehouse use it in place of the DuckDB resource;
    dbt reaches the same identity through the `snowflake` target of dbt_project/profiles.yml.
    """
    parameters = connection_parameters(settings, "transform")
    # a non-default endpoint (PrivateLink, or the emulator in tests) has no field of its own
    endpoint = {name: parameters[name] for name in ("host", "port", "protocol") if name in parameters}
    return {
        "snowflake": SnowflakeResource(
            account=parameters["account"],
            user=parameters["user"],
            role=parameters["role"],
            warehouse=parameters["warehouse"],
            database=parameters["database"],
            private_key_path=parameters["private_key_file"],
            private_key_password=parameters.get("private_key_file_pwd"),
            additional_snowflake_connection_args=endpoint or None,
        )
    }
