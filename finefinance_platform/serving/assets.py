"""The Dagster asset of the serving copy, `delivery/serving_copy`: published after the marts and
the issued statements change (publish.py)."""

# no `from __future__ import annotations`: Dagster reads the context and resource annotations
import datetime as dt
from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from finefinance_platform.serving.publish import EXTRA_TABLES, publish_serving_copy, published_time, serving_tables
from finefinance_platform.settings import Settings
from finefinance_platform.transformation.dbt_assets import dbt_models
from finefinance_platform.warehouse import WarehouseResource

SERVING_COPY_KEY = AssetKey(["delivery", "serving_copy"])
# the tables beside the marts the copy holds, as assets (delivery/statement_issues)
EXTRA_TABLE_KEYS = [AssetKey([schema, table]) for schema, table in EXTRA_TABLES]


def mart_keys(settings: Settings) -> list[AssetKey]:
    """Every model dbt builds in the `marts` schema (read from its manifest through the dbt assets,
    so a new mart needs no list here): the serving copy is republished when any of them changes."""
    return sorted(
        (key for assets in dbt_models(settings) for key in assets.keys if key.path[0] == "marts"),
        key=lambda key: key.path,
    )


RECORDING_MARGIN_SECONDS = 60


def build_serving_copy_asset(deps: Sequence[AssetKey]) -> AssetsDefinition:
    """The serving copy downstream of `deps` (the marts and the issued statements the readers use)."""

    @asset(
        key=SERVING_COPY_KEY,
        deps=list(deps),
        group_name="delivery",
        kinds={"duckdb"},
        description=(
            "Read-only copy of the marts schema (and delivery.statement_issues) at "
            "<FINEFINANCE_HOME>/serving/marts.duckdb, published "
            "atomically (new file + rename): the dashboards and the statement service read it, so they "
            "never hold a lock on the warehouse."
        ),
    )
    def serving_copy(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        settings = warehouse.settings
        if settings.warehouse == "snowflake":
            # readers query Snowflake itself as the reporting identity: no single-writer file to avoid
            context.log.info("Snowflake: the readers query the marts directly; no copy to publish")
            return MaterializeResult(metadata={"published": False, "reason": "readers query Snowflake"})
        previous = published_time(settings)
        changed = []
        if previous is not None:
            # a table counts as changed when Dagster recorded it (or never did) after the copy in
            # place was published, less a margin for a materialization recorded just after its write
            cutoff = previous.replace(tzinfo=dt.UTC).timestamp() - RECORDING_MARGIN_SECONDS
            for key in deps:
                event = context.instance.get_latest_materialization_event(key)
                if event is None or event.timestamp >= cutoff:
                    changed.append(".".join(key.path[-2:]))
        with warehouse.connect() as con:
            path = publish_serving_copy(con, settings, changed_since=previous, changed=changed)
        context.log.info(f"published the serving copy {path} (copied again: {', '.join(changed) or 'all'})")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(path)),
                "tables": len(serving_tables(path)),
                "size_mb": round(path.stat().st_size / 1e6, 2),
            }
        )

    return serving_copy


def serving_assets(settings: Settings) -> list[AssetsDefinition]:
    return [build_serving_copy_asset([*mart_keys(settings), *EXTRA_TABLE_KEYS])]
