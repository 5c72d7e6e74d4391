"""The Dagster code location: `finefinance_platform.definitions:defs`."""

from __future__ import annotations

from dagster import Definitions, in_process_executor
from dagster_dlt import DagsterDltResource

from finefinance_platform.ingestion.dlt_ingestion import raw_tables

defs = Definitions(
    assets=[raw_tables],
    resources={"dlt": DagsterDltResource()},
    executor=in_process_executor,
)
