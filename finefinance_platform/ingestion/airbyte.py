"""Production ingestion: the Airbyte connection PostgreSQL -> Snowflake `raw`, as Dagster assets.

Selected with FINEFINANCE_INGESTION=airbyte. The connection itself is created by
`finefinance airbyte bootstrap` (finefinance_platform/production/airbyte_bootstrap.py); here
`dagster-airbyte` reads it from the workspace when the definitions load and keys each stream
`raw/<table>`, the keys of the dlt path, so the dbt sources, checks and schedules downstream do
not know which path ran.
"""

# no `from __future__ import annotations`: Dagster reads the asset function's `context`
# annotation as a type when the definitions load
from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, Failure
from dagster_airbyte import (
    AirbyteConnectionTableProps,
    AirbyteWorkspace,
    DagsterAirbyteTranslator,
    airbyte_assets,
)

from finefinance_platform.errors import SettingsError
from finefinance_platform.settings import Settings
from finefinance_platform.source.tables import SOURCE_TABLES, SOURCE_TABLES_BY_NAME

# The one connection the platform owns in the workspace: the bootstrap creates it under this
# name, and the assets are built from it alone (a workspace may hold other teams' connections).
CONNECTION_NAME = "finefinance_postgres_to_snowflake"
RAW_NAMESPACE = "raw"


class RawTableTranslator(DagsterAirbyteTranslator):
    """Keys each stream raw/<table> in the `ingestion` group, like the dlt path's translator."""

    def get_asset_spec(self, props: AirbyteConnectionTableProps) -> AssetSpec:
        default = super().get_asset_spec(props)
        table = SOURCE_TABLES_BY_NAME.get(props.stream_name)
        description = (
            f"Copy of {table.qualified_name} in {RAW_NAMESPACE}.{table.name} by the Airbyte connection "
            f"{props.connection_name}: incremental on updated_at, deduplicated on "
            f"{', '.join(table.primary_key)}."
            if table
            else f"Stream {props.stream_name} of the Airbyte connection {props.connection_name}."
        )
        return default.replace_attributes(
            key=AssetKey([RAW_NAMESPACE, props.stream_name]),
            group_name="ingestion",
            description=description,
            owners=["team:data-platform"],
        ).merge_attributes(kinds={"postgres"}, tags={"layer": "raw"})


def airbyte_workspace(settings: Settings) -> AirbyteWorkspace:
    """The workspace resource, with client credentials from the environment."""
    airbyte = settings.airbyte
    missing = [
        name
        for name, value in (
            ("FINEFINANCE_AIRBYTE_WORKSPACE_ID", airbyte.workspace_id),
            ("FINEFINANCE_AIRBYTE_CLIENT_ID", airbyte.client_id),
            ("FINEFINANCE_AIRBYTE_CLIENT_SECRET", airbyte.client_secret),
        )
        if not value
    ]
    if missing:
        raise SettingsError(f"FINEFINANCE_INGESTION=airbyte needs {', '.join(missing)} (see .env.example)")
    return AirbyteWorkspace(
        rest_api_base_url=airbyte.rest_api_base_url,
        configuration_api_base_url=airbyte.configuration_api_base_url,
        workspace_id=airbyte.workspace_id,
        client_id=airbyte.client_id,
        client_secret=airbyte.client_secret,
        poll_interval=airbyte.poll_interval,
    )


def airbyte_resources(settings: Settings) -> dict:
    """The resources the Airbyte assets need: their functions take the workspace as `airbyte`."""
    return {"airbyte": airbyte_workspace(settings)}


def build_airbyte_ingestion_assets(
    settings: Settings, workspace: AirbyteWorkspace | None = None
) -> list[AssetsDefinition]:
    """One multi-asset syncing the platform's connection; its eight streams are raw/<table>.

    Reads the workspace now (definitions load time), so a missing or incomplete connection is
    reported here, naming what to run, rather than as absent assets downstream.
    """
    workspace = workspace or airbyte_workspace(settings)
    translator = RawTableTranslator()
    specs = workspace.load_asset_specs(
        dagster_airbyte_translator=translator,
        connection_selector_fn=lambda connection: connection.name == CONNECTION_NAME,
    )
    if not specs:
        raise SettingsError(
            f"the Airbyte workspace {settings.airbyte.workspace_id} has no connection named "
            f"{CONNECTION_NAME!r}: run `finefinance airbyte bootstrap` first"
        )
    keys = {spec.key for spec in specs}
    missing = [t.name for t in SOURCE_TABLES if AssetKey([RAW_NAMESPACE, t.name]) not in keys]
    if missing:
        raise SettingsError(
            f"the Airbyte connection {CONNECTION_NAME!r} does not sync {', '.join(missing)}: "
            "run `finefinance airbyte bootstrap` to restore its streams"
        )
    connection_id = specs[0].metadata["dagster-airbyte/connection_id"]
    ui_url = (
        f"{settings.airbyte.url.rstrip('/')}/workspaces/{settings.airbyte.workspace_id}"
        f"/connections/{connection_id}/job-history"
    )

    # the decorator rather than build_airbyte_assets_definitions: same specs and sync, but a
    # failed or cancelled job then names the connection and where its logs are
    @airbyte_assets(
        connection_id=connection_id,
        workspace=workspace,
        name="airbyte_sync_operational_source",
        dagster_airbyte_translator=translator,
    )
    def raw_tables_from_airbyte(context: AssetExecutionContext, airbyte: AirbyteWorkspace) -> Iterator:
        try:
            yield from airbyte.sync_and_poll(context=context)
        except Failure as exc:
            raise Failure(
                f"Airbyte sync of {CONNECTION_NAME} ({connection_id}) did not succeed: "
                f"{exc.description}. Job logs: {ui_url}",
                # a failed sync is retried by Airbyte itself and by the next schedule tick
                allow_retries=False,
            ) from exc

    return [raw_tables_from_airbyte]
