"""Ingestion: the eight source tables land in raw.<table> (dlt locally, Airbyte in production).

Both paths key their assets raw/<table>, so nothing downstream knows which one ran.
"""

from functools import cache

from finefinance_platform.settings import Settings


@cache
def ingestion_assets(settings: Settings) -> list:
    """The selected ingestion's assets: the same objects for as long as the settings stay the same."""
    if settings.ingestion == "airbyte":
        from finefinance_platform.ingestion.airbyte import build_airbyte_ingestion_assets

        return list(build_airbyte_ingestion_assets(settings))
    from finefinance_platform.ingestion.dlt_ingestion import raw_tables

    return [raw_tables()]


def ingestion_resources(settings: Settings) -> dict:
    """The resources the selected ingestion's assets ask for."""
    if settings.ingestion == "airbyte":
        from finefinance_platform.ingestion.airbyte import airbyte_resources

        return airbyte_resources(settings)
    from finefinance_platform.ingestion.dlt_ingestion import DltIngestionResource

    return {"dlt": DltIngestionResource(settings=settings)}
