"""Jobs and schedules: ingest daily, close each month.

- `daily_refresh` (02:00 UTC): ingestion, then the unpartitioned dbt models (staging, the customer
  snapshot that records profile changes, dimensions), then the serving copy the readers use.
- `close_month` (the 1st, 03:00 UTC, for the month that just ended): the month-grain marts, the
  statement documents, and the serving copy again.
"""

from dagster import AssetSelection, ScheduleDefinition, build_schedule_from_partitioned_job, define_asset_job

from finefinance_platform.delivery.assets import SERVING_COPY_KEY
from finefinance_platform.ingestion import ingestion_assets
from finefinance_platform.orchestration.partitions import monthly_partitions
from finefinance_platform.transformation.dbt_assets import (
    WAREHOUSE_WRITER_TAGS,
    dbt_monthly_models,
    dbt_unpartitioned_models,
)

unpartitioned_refresh = (
    AssetSelection.assets(*ingestion_assets())
    | AssetSelection.assets(dbt_unpartitioned_models)
    | AssetSelection.assets(SERVING_COPY_KEY)
)
monthly_close = AssetSelection.assets(dbt_monthly_models).downstream() - AssetSelection.assets(dbt_unpartitioned_models)

daily_refresh_job = define_asset_job("daily_refresh", selection=unpartitioned_refresh, tags=WAREHOUSE_WRITER_TAGS)
close_month_job = define_asset_job(
    "close_month", selection=monthly_close, partitions_def=monthly_partitions, tags=WAREHOUSE_WRITER_TAGS
)

daily_refresh_schedule = ScheduleDefinition(job=daily_refresh_job, cron_schedule="0 2 * * *", execution_timezone="UTC")
close_month_schedule = build_schedule_from_partitioned_job(close_month_job, hour_of_day=3)
