"""Jobs and schedules: ingest daily, close each month.

- `daily_refresh` (02:00 UTC): ingestion, then the unpartitioned dbt models (staging, the customer
  snapshot that records profile changes, dimensions), then the serving copy the readers use.
- `close_month` (the 1st, 03:00 UTC, for the month that just ended): the month-grain marts, the
  statement documents, and the serving copy again.
- `live` (every 5 minutes): ingestion of what changed in the tables the intraday marts read, the
  dbt models tagged `live` (the incremental `staging.base_transaction` and the intraday marts),
  the advisors' alert notices and the serving copy. `finefinance live` runs the same job from the
  command line.

Every job writes the warehouse through ops in the `warehouse` pool (one slot, deploy/dagster.yaml
and the local instance), so the live cadence, the monthly close and a backfill queue behind each
other instead of colliding on DuckDB's single writer.
"""

from functools import cache
from typing import Any, NamedTuple

from dagster import AssetKey, AssetSelection, ScheduleDefinition, build_schedule_from_partitioned_job, define_asset_job
from dagster_dbt import build_dbt_asset_selection

from finefinance_platform.checks.reconciliation import raw_matches_source
from finefinance_platform.checks.source_freshness import raw_source_freshness
from finefinance_platform.ingestion import ingestion_assets
from finefinance_platform.orchestration.advisor_alerts import ALERT_NOTICES_KEY
from finefinance_platform.serving.assets import SERVING_COPY_KEY
from finefinance_platform.settings import Settings
from finefinance_platform.transformation.dbt_assets import WAREHOUSE_WRITER_TAGS, DbtModels, dbt_models

# the source tables the intraday marts read (bookings, their accounts' owners, the customers'
# advisors); the others (balances, products, advisors) change by the day and come with the refresh
LIVE_RAW_TABLES = ("transaction", "account", "customer")


def live_ingestion(assets) -> AssetSelection:
    """The ingestion of LIVE_RAW_TABLES where the tool can load some tables alone (dlt); the whole
    ingestion where it syncs a connection at once (Airbyte)."""
    if all(asset.can_subset for asset in assets):
        return AssetSelection.assets(*(AssetKey(["raw", table]) for table in LIVE_RAW_TABLES))
    return AssetSelection.assets(*assets)


def monthly_close(models: DbtModels) -> AssetSelection:
    """The month-grain marts and everything downstream of them that is not refreshed daily."""
    return AssetSelection.assets(models.monthly).downstream() - AssetSelection.assets(models.unpartitioned)


class Jobs(NamedTuple):
    # what define_asset_job returns: resolved against the asset graph by the Definitions
    daily_refresh: Any
    close_month: Any
    live: Any


def jobs(settings: Settings) -> Jobs:
    """The three jobs, made when the definitions load (they select the ingestion and dbt assets):
    the same objects for as long as those assets stay the same."""
    return _jobs(tuple(ingestion_assets(settings)), dbt_models(settings))


@cache
def _jobs(ingestion: tuple, models: DbtModels) -> Jobs:
    unpartitioned_refresh = (
        AssetSelection.assets(*ingestion)
        | AssetSelection.assets(models.unpartitioned)
        | AssetSelection.assets(SERVING_COPY_KEY)
    )
    live_cycle = (
        live_ingestion(ingestion)
        | build_dbt_asset_selection([models.unpartitioned], dbt_select="tag:live")
        | AssetSelection.assets(ALERT_NOTICES_KEY, SERVING_COPY_KEY)
    )
    return Jobs(
        daily_refresh=define_asset_job("daily_refresh", selection=unpartitioned_refresh, tags=WAREHOUSE_WRITER_TAGS),
        # partitioned like the assets it selects (the monthly partitions)
        close_month=define_asset_job("close_month", selection=monthly_close(models), tags=WAREHOUSE_WRITER_TAGS),
        # Two checks on the raw tables run with the daily refresh, not every 5 minutes: dbt's source
        # freshness judges hours (warn after 26; a dbt process of its own, 10 s of a cycle at scale S),
        # and the month-by-month reconciliation of raw with the source reads the whole history of
        # both (2 s at S, growing with history), where a cycle must cost what changed. The daily
        # refresh after the cycles reconciles everything they ingested.
        live=define_asset_job(
            "live",
            selection=live_cycle - AssetSelection.checks(raw_source_freshness, raw_matches_source),
            tags=WAREHOUSE_WRITER_TAGS,
        ),
    )


def schedules(settings: Settings) -> list:
    made = jobs(settings)
    return [
        ScheduleDefinition(job=made.daily_refresh, cron_schedule="0 2 * * *", execution_timezone="UTC"),
        build_schedule_from_partitioned_job(made.close_month, hour_of_day=3),
        # Stopped until an operator turns it on (the UI's Automation page, or the deployment's
        # config), like the other schedules: in `make dev` it would otherwise write the warehouse
        # every 5 minutes unasked.
        ScheduleDefinition(job=made.live, cron_schedule="*/5 * * * *", execution_timezone="UTC"),
    ]
