"""The ingestion run: dlt's `sql_table` on the ConnectorX backend, PostgreSQL -> raw.<table>.

Imported by a run of the `raw_tables` asset (`dlt_ingestion.py`), never when the code location
loads: dlt, dagster-dlt and SQLAlchemy take ~1.5 s to import here (dlt also imports Streamlit).

Incremental on `updated_at` and merged on the primary key, so re-runs and updated rows never
duplicate. ConnectorX streams Arrow batches (`return_type="arrow_stream"`), so memory is bounded by
the batch size, not the table size.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.sources.sql_database import sql_table

from finefinance_platform.file_lock import held
from finefinance_platform.ingestion.dlt_ingestion import (
    BATCH_ROWS,
    PIPELINE_NAME,
    RAW_DATASET,
    raw_table_specs,
    wait_for_source,
)
from finefinance_platform.ingestion.schema_drift import assert_source_schema
from finefinance_platform.settings import Settings
from finefinance_platform.source.tables import SOURCE_TABLES


@dlt.source(name="operational_source", max_table_nesting=0)
def operational_source(reader_url: str, batch_rows: int = BATCH_ROWS, first_load: frozenset[str] = frozenset()):
    """The 8 tables, merged on their keys; `first_load` names tables that have no raw table yet.

    A first load is appended straight into the new raw table: a merge would load a staging copy,
    then deduplicate it with a window over the whole table and insert it again, which at scale M
    took most of the ingestion's time and ~5 GB of memory for nothing (one consistent read of a
    table has no duplicate keys). Later runs merge, so updates never duplicate.
    """
    for table in SOURCE_TABLES:
        yield sql_table(
            # SQLAlchemy (reflection only) needs the psycopg2 driver named: 2.1 maps postgresql://
            # to psycopg 3; ConnectorX, which reads the rows, takes the plain libpq URL
            credentials=reader_url.replace("postgresql://", "postgresql+psycopg2://", 1),
            schema=table.schema,
            table=table.name,
            backend="connectorx",
            backend_kwargs={"conn": reader_url, "return_type": "arrow_stream", "batch_size": batch_rows},
            chunk_size=batch_rows,
            # reflect when the run reads: building the source must not need the source to be up
            defer_table_reflect=True,
            reflection_level="full_with_precision",
            incremental=dlt.sources.incremental("updated_at"),
            primary_key=list(table.primary_key),
            write_disposition="append" if table.name in first_load else "merge",
        )


def tables_without_raw_copy(pipeline: dlt.Pipeline) -> frozenset[str]:
    """Source tables whose raw table does not exist yet in the warehouse (their first load)."""
    names = frozenset(table.name for table in SOURCE_TABLES)
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return names
        with client.execute_query(
            "select table_name from information_schema.tables where table_schema = %s", client.dataset_name
        ) as cursor:
            existing = {row[0] for row in cursor.fetchall()}
    return names - existing


def ingestion_pipeline(settings: Settings, pipelines_dir: Path | None = None) -> dlt.Pipeline:
    """The pipeline of a run. dlt.pipeline() creates or restores its working folder's state
    (`<pipelines_dir>/finefinance_ingestion/state.json`): open it only inside a run, holding
    `pipeline_folder_lock` (two processes restoring one folder at once crashed inside dlt)."""
    # DuckDB's buffer pool bounded like dbt's: unbounded, a first load at scale M grew to 2 GB.
    # Raw tables have no meaningful row order (every reader sorts or aggregates), so DuckDB may
    # insert a parquet file's row groups in parallel: the load of 7 M transactions at scale M
    # went from 4.8 s to 3.6 s (docs/benchmarks.md)
    credentials = DuckDbCredentials(
        str(settings.duckdb_path),
        global_config={"memory_limit": settings.duckdb_memory_limit, "preserve_insertion_order": False},
    )
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir or settings.home / "dlt"),
        progress="log",
    )


@contextmanager
def pipeline_folder_lock(settings: Settings, log=print) -> Iterator[None]:
    """Hold the home's dlt working folder for one ingestion. The CLI's runs already hold the
    warehouse's run lock; this one also covers runs the Dagster daemon launches (`make dev`)."""
    path = settings.home / "dlt" / f"{PIPELINE_NAME}.lock"
    waiting = f"waiting for another ingestion to finish with the dlt folder {path.parent / PIPELINE_NAME} ..."
    with held(path, waiting, log):
        yield


class RawTableTranslator(DagsterDltTranslator):
    """Tells dagster-dlt's run which asset each dlt resource loads: the spec the asset was defined
    with (`raw_table_specs()`), raw/<table>, the same keys the Airbyte path and the dbt sources use."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        return next(spec for spec in raw_table_specs() if spec.key.path[-1] == data.resource.name)


def ingest(context: AssetExecutionContext, settings: Settings) -> Iterator:
    """The body of the `raw_tables` asset: one dlt run of the selected tables, under the dlt folder's lock."""
    with pipeline_folder_lock(settings, context.log.warning):
        yield from _ingest(context, settings)


def _ingest(context: AssetExecutionContext, settings: Settings) -> Iterator:
    reader_url = settings.source_url(reader=True)
    wait_for_source(reader_url)
    # a column the models read, dropped or retyped at the source: stop before loading anything
    assert_source_schema(reader_url)
    pipeline = ingestion_pipeline(settings)
    # a fresh source per run: a dlt source object cannot be run twice in one process
    source = operational_source(reader_url=reader_url, first_load=tables_without_raw_copy(pipeline))
    try:
        # dagster-dlt's resource takes the source, the pipeline and the translator from the asset's
        # metadata unless given: they are given, the asset is defined without dlt
        results = list(
            DagsterDltResource().run(
                context=context, dlt_source=source, dlt_pipeline=pipeline, dagster_dlt_translator=RawTableTranslator()
            )
        )
    except BaseException as exc:
        # a connection lost mid-read surfaces as a driver error (ConnectorX: a Rust panic, which
        # is a BaseException): when the source is gone, say so in one line after bounded retries
        if isinstance(exc, Exception) or type(exc).__name__ == "PanicException":
            wait_for_source(reader_url, during=True)
        raise
    # dagster-dlt's own fetch_row_count() fails for a table that received no new rows, which is
    # the normal case of an incremental run: count the raw tables ourselves.
    with pipeline.sql_client() as client:
        for result in results:
            table = result.asset_key.path[-1]
            with client.execute_query(f"select count(*) from {table}") as cursor:
                row_count = cursor.fetchone()[0]
            yield MaterializeResult(
                asset_key=result.asset_key,
                metadata={**(result.metadata or {}), "dagster/row_count": row_count},
            )
