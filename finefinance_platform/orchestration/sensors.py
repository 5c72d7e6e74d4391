"""Late and changed data: re-materialize the months it touches, not the whole history.

After each ingestion the raw tables hold rows whose `updated_at` is above the late-data marks, the
record this sensor shares with `finefinance run` (late_data.py). A pending transaction completed
after its month closed, a corrected balance, a profile upgrade: the earliest month such a row
touches is rebuilt, with every month after it (balances and streaks carry forward), as one run over
that partition range. The marks move up when that run has succeeded, not when it is requested: until
then the command line sees the same months as stale, and a failed run leaves them so.
"""

from contextlib import closing

import duckdb
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from finefinance_platform.orchestration.late_data import (
    advance_marks,
    earliest_changed_month,
    high_water_marks,
    read_record,
    rebuild_range,
    remember_marks,
    request_rebuild,
    requested_run,
    settle_requested_rebuild,
    staging_behind_raw,
)
from finefinance_platform.orchestration.run_safety import warehouse_turn
from finefinance_platform.settings import Settings
from finefinance_platform.transformation.partitions import monthly_partitions
from finefinance_platform.warehouse import WarehouseResource


# by the job's name: the job is built when the definitions load
@sensor(job_name="close_month", minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def late_data_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    return _look_for_late_data(warehouse.settings, context)


def _look_for_late_data(settings: Settings, context: SensorEvaluationContext):
    if settings.warehouse != "duckdb" or not settings.duckdb_path.exists():
        return SkipReason("no embedded warehouse yet")
    # a read-only connection held while a run's step opens the file would fail that step: look
    # only when no run holds the warehouse, and keep runs from starting for these milliseconds
    # (the command line changes the marks under the same lock)
    with warehouse_turn(settings) as free:
        if not free:
            return SkipReason("a run is writing the warehouse; looking again at the next tick")
        pending = settle_requested_rebuild(settings, context.instance)
        if pending is not None:
            run = requested_run(context.instance, pending)
            if run is None:  # asked for, never launched (the daemon stopped): the same run key again
                return RunRequest(run_key=pending.run_key, tags=pending.tags())
            return SkipReason(f"waiting for run {run.run_id[:8]} rebuilding {pending.start} .. {pending.end} to end")
        marks = read_record(settings).marks
        with closing(duckdb.connect(str(settings.duckdb_path), read_only=True)) as con:
            current = high_water_marks(con)
            if marks is None:
                remember_marks(settings, current)
                return SkipReason("marks recorded; later changes will be followed")
            if staging_behind_raw(con):
                # the marks stay: the same changes are looked at again once staging has them
                return SkipReason("raw has transactions the daily refresh has not staged yet; waiting for it")
            earliest = earliest_changed_month(con, marks)
        window = rebuild_range(earliest, monthly_partitions(settings).get_partition_keys())
        if window is None:
            advance_marks(settings, marks, current)
            return SkipReason("no change touches a closed month")
        start, end = window
        rebuild = request_rebuild(settings, start, end, base=marks, reached=current)
    context.log.info(f"late data from {earliest}: rebuilding {start} .. {end}")
    return RunRequest(run_key=rebuild.run_key, tags=rebuild.tags())
