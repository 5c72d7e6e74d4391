"""Embedded ingestion, as the code location defines it: one Dagster asset per source table
(`raw/<table>`), loaded by one dlt run (`dlt_pipeline.py`) from PostgreSQL into raw.<table>.

The asset is defined without dlt: importing dlt and dagster-dlt costs ~1.5 s here (dlt also
imports Streamlit, ~0.5 s), which every process that loads the code location paid (`dagster dev`,
each run's process, each command that runs a job), while only a run of this asset needs them.
"""

import time
from collections.abc import Iterator
from functools import cache

import psycopg2
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    ConfigurableResource,
    Failure,
    ResourceDependency,
    multi_asset,
)
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet

from finefinance_platform.settings import Settings
from finefinance_platform.source.tables import SOURCE_TABLES

PIPELINE_NAME = "finefinance_ingestion"
RAW_DATASET = "raw"
# rows per Arrow batch: ~40 MB for the widest table. At scale M, 100k, 250k and 1M rows loaded in
# the same time (within 5 %); 100k kept the first load's peak at 1.2 GB instead of 1.5 GB
BATCH_ROWS = 100_000
SOURCE_CONNECT_ATTEMPTS = 4
# dlt's name of the destination the pipeline loads into (`dlt.destinations.duckdb`)
DLT_DESTINATION = "duckdb"


@cache
def raw_table_specs() -> tuple[AssetSpec, ...]:
    """The asset of each source table, as dagster-dlt's `dlt_assets` made them with the platform's
    translator (`build_dlt_asset_specs`; tests/unit/test_ingestion_specs.py holds them equal):
    its default table name, storage kind and kinds (`dlt` and the destination's), then the
    platform's key, group, description, owners, `postgres` kind and `layer` tag. Written out
    because dagster-dlt builds them from a dlt source and pipeline, which need dlt imported."""
    return tuple(
        AssetSpec(
            key=AssetKey(["raw", table.name]),
            description=(
                f"Copy of {table.qualified_name} in raw.{table.name}: incremental on updated_at, "
                f"merged on {', '.join(table.primary_key)}."
            ),
            group_name="ingestion",
            metadata=dict(TableMetadataSet(table_name=table.name, storage_kind=DLT_DESTINATION)),
            owners=["team:data-platform"],
            tags={"layer": "raw"},
            kinds={"dlt", DLT_DESTINATION, "postgres"},
        )
        for table in SOURCE_TABLES
    )


class DltIngestionResource(ConfigurableResource):
    """What a run of the ingestion needs from the code location: its settings (the source, the
    warehouse, the home's dlt folder). dagster-dlt's own resource is made by the run."""

    settings: ResourceDependency[Settings]


@cache
def raw_tables() -> AssetsDefinition:
    """The ingestion asset, made when the definitions load; subsettable, so a job may load some
    tables alone (the live cadence)."""
    return multi_asset(
        name="ingest_operational_source",
        specs=raw_table_specs(),
        can_subset=True,
        op_tags={"finefinance/warehouse": "writer"},
        pool="warehouse",
    )(ingest_raw_tables)


def ingest_raw_tables(context: AssetExecutionContext, dlt: DltIngestionResource) -> Iterator:
    # dlt is imported here, by the run, not when the code location loads (the module's docstring)
    from finefinance_platform.ingestion.dlt_pipeline import ingest

    yield from ingest(context, dlt.settings)


def wait_for_source(url: str, attempts: int | None = None, delay: float = 1.0, during: bool = False) -> None:
    """Bounded retries, then a clear error: a source that is down must not look like empty data.

    `during`: the source failed in the middle of the ingestion (its rows were not loaded).
    """
    attempts = attempts or SOURCE_CONNECT_ATTEMPTS
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            psycopg2.connect(url, connect_timeout=5).close()
            return
        except psycopg2.OperationalError as exc:
            last_error = exc
            if attempt + 1 < attempts:
                time.sleep(delay * (2**attempt))
    host = url.split("@")[-1]
    raise Failure(
        f"the operational source {host} "
        + ("went down during ingestion and " if during else "")
        + f"is unreachable after {attempts} attempts: "
        f"{str(last_error).strip().splitlines()[0] if last_error else 'unknown error'}"
        + (
            "; nothing of this run was loaded (the raw tables keep their last complete load): "
            "run again once the source is back"
            if during
            else ""
        ),
        allow_retries=False,
    )
