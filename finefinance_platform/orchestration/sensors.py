"""Late and changed data: re-materialize the months it touches, not the whole history.

After each ingestion the raw tables hold rows whose `updated_at` is above the marks this sensor
kept at its last tick. A pending transaction completed after its month closed, a corrected balance,
a profile upgrade: the earliest month such a row touches is rebuilt, with every month after it
(balances and streaks carry forward), as one run over that partition range.
"""

from contextlib import closing

import duckdb
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from finefinance_platform.orchestration.late_data import (
    decode_marks,
    earliest_changed_month,
    encode_marks,
    high_water_marks,
    rebuild_range,
    staging_behind_raw,
)
from finefinance_platform.orchestration.run_safety import warehouse_turn
from finefinance_platform.settings import get_settings
from finefinance_platform.transformation.partitions import monthly_partitions


# by the job's name: the job is built when the definitions load
@sensor(job_name="close_month", minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def late_data_sensor(context: SensorEvaluationContext):
    settings = get_settings()
    if settings.warehouse != "duckdb" or not settings.duckdb_path.exists():
        return SkipReason("no embedded warehouse yet")
    # a read-only connection held while a run's step opens the file would fail that step: look
    # only when no run holds the warehouse, and keep runs from starting for these milliseconds
    with warehouse_turn(settings) as free:
        if not free:
            return SkipReason("a run is writing the warehouse; looking again at the next tick")
        with closing(duckdb.connect(str(settings.duckdb_path), read_only=True)) as con:
            marks = high_water_marks(con)
            if not context.cursor:
                context.update_cursor(encode_marks(marks))
                return SkipReason("marks recorded; later changes will be followed")
            if staging_behind_raw(con):
                # the cursor stays: the same changes are looked at again once staging has them
                return SkipReason("raw has transactions the daily refresh has not staged yet; waiting for it")
            earliest = earliest_changed_month(con, decode_marks(context.cursor))
    context.update_cursor(encode_marks(marks))
    window = rebuild_range(earliest, monthly_partitions().get_partition_keys())
    if window is None:
        return SkipReason("no change touches a closed month")
    start, end = window
    context.log.info(f"late data from {earliest}: rebuilding {start} .. {end}")
    return RunRequest(
        run_key=f"late-data-{start}-{end}-{context.cursor}",
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )
