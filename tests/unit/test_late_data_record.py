"""The one record of late-data marks that `finefinance run`, `finefinance live` and the late-data
sensor share (orchestration/late_data.py): marks move up only once the months they call for are
built, a failed rebuild leaves them, and a crash keeps the older ones."""

import datetime as dt
import json

import pytest
from dagster import DagsterInstance, job, op

from finefinance_platform.orchestration.late_data import (
    REBUILD_TAG,
    LateDataRecord,
    advance_marks,
    read_record,
    remember_marks,
    request_rebuild,
    settle_requested_rebuild,
)
from finefinance_platform.settings import load_settings

T0, T1, T2 = (dt.datetime(2026, 1, 10, hour, tzinfo=dt.UTC) for hour in (1, 2, 3))


@pytest.fixture()
def settings(tmp_path):
    return load_settings({"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_DUCKDB_PATH": str(tmp_path / "w.duckdb")})


@op
def _rebuilt() -> None:
    pass


@job
def _succeeds():
    _rebuilt()


@op
def _fails() -> None:
    raise RuntimeError("the months' build failed")


@job
def _broken():
    _fails()


def _run(job_def, rebuild, instance) -> None:
    job_def.execute_in_process(instance=instance, tags={REBUILD_TAG: rebuild.run_key}, raise_on_error=False)


def test_a_crash_before_the_months_are_built_keeps_the_older_marks(settings):
    assert read_record(settings).marks is None
    assert remember_marks(settings, {"transaction": T0, "customer": None}) == {"transaction": T0, "customer": None}
    # the run died before building; the next one starts from newer marks and keeps the older ones
    assert remember_marks(settings, {"transaction": T1, "customer": T1}) == {"transaction": T0, "customer": None}
    assert read_record(settings).marks == {"transaction": T0, "customer": None}


def test_marks_move_up_only_where_nobody_moved_them_meanwhile(settings):
    base = remember_marks(settings, {"transaction": T0, "balance": T0})
    advance_marks(settings, base, {"transaction": T1, "balance": T1})
    assert read_record(settings).marks == {"transaction": T1, "balance": T1}
    # a rebuild from the older marks ends after another one moved them further: theirs stand
    advance_marks(settings, base, {"transaction": T0, "balance": T0})
    assert read_record(settings).marks == {"transaction": T1, "balance": T1}


def test_each_warehouse_has_its_own_marks(settings, tmp_path):
    other = load_settings({"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_DUCKDB_PATH": str(tmp_path / "o.duckdb")})
    remember_marks(settings, {"transaction": T1})
    remember_marks(other, {"transaction": T0})
    assert read_record(settings).marks == {"transaction": T1}
    assert read_record(other).marks == {"transaction": T0}


def test_marks_kept_before_the_record_had_one_entry_per_warehouse_still_count(settings):
    path = settings.home / "state" / "pending_late_data_marks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"transaction": T0.isoformat(), "customer": None}))
    assert read_record(settings).marks == {"transaction": T0, "customer": None}
    assert remember_marks(settings, {"transaction": T1, "customer": T1}) == {"transaction": T0, "customer": None}


def test_a_requested_rebuild_moves_the_marks_once_its_run_succeeds(settings):
    instance = DagsterInstance.ephemeral()
    base = remember_marks(settings, {"transaction": T0})
    rebuild = request_rebuild(settings, "2026-01-01", "2026-03-01", base, {"transaction": T1})
    # not launched yet, then launched and not ended: the marks stay, the months are stale for all
    assert settle_requested_rebuild(settings, instance) == rebuild
    assert read_record(settings).marks == {"transaction": T0}
    _run(_succeeds, rebuild, instance)
    assert settle_requested_rebuild(settings, instance) is None
    assert read_record(settings).marks == {"transaction": T1}
    assert read_record(settings).requested is None


def test_a_failed_rebuild_leaves_its_months_stale(settings):
    instance = DagsterInstance.ephemeral()
    base = remember_marks(settings, {"transaction": T0})
    rebuild = request_rebuild(settings, "2026-01-01", "2026-03-01", base, {"transaction": T1})
    _run(_broken, rebuild, instance)
    assert settle_requested_rebuild(settings, instance) is None
    assert read_record(settings) == LateDataRecord(marks={"transaction": T0}, requested=None)
    # asked again, it gets a run key of its own (Dagster launches one run per key)
    again = request_rebuild(settings, "2026-01-01", "2026-03-01", base, {"transaction": T2})
    assert again.run_key != rebuild.run_key
