"""The local Dagster instance (`make run`, `make dev`): its event log and the daemon's check alerts on it."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    Definitions,
    asset,
    asset_check,
    build_sensor_context,
)

from finefinance_platform.orchestration import alerts
from finefinance_platform.orchestration.event_log import PooledSqliteEventLogStorage
from finefinance_platform.orchestration.instance import local_instance
from finefinance_platform.settings import get_settings
from finefinance_platform.warehouse import WarehouseResource


@asset
def ledger() -> None:
    return None


@asset_check(asset=ledger)
def ledger_balances() -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, description="3 accounts off")


def test_check_failures_reach_the_alerts_across_ticks_and_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("FINEFINANCE_HOME", str(tmp_path))
    raised = []
    monkeypatch.setattr(alerts, "record_alert", lambda alert, settings: raised.append(alert))
    job = Definitions(assets=[ledger], asset_checks=[ledger_balances]).resolve_implicit_global_asset_job_def()

    instance = local_instance(get_settings())
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    resources = {"warehouse": WarehouseResource(settings=get_settings())}
    with build_sensor_context(instance=instance, resources=resources) as first_tick:
        assert "initialised" in alerts.alert_on_check_failure(first_tick).skip_message
    assert job.execute_in_process(instance=instance, raise_on_error=False).success

    # what the daemon does on its next tick, in another process: a new instance on the same home,
    # asking for the evaluations after the first tick's storage id (a run-sharded SQLite event log
    # refused that question, so the sensor failed from its second tick on)
    again = local_instance(get_settings())
    with build_sensor_context(instance=again, cursor=first_tick.cursor, resources=resources) as next_tick:
        alerts.alert_on_check_failure(next_tick)
    assert [(a.kind, a.severity, a.check_name) for a in raised] == [("check_failure", "ERROR", "ledger_balances")]
    assert "3 accounts off" in raised[0].message
    # the run's events are all in the one file, read by the new instance
    assert again.get_run_records()[0].dagster_run.run_id == instance.get_run_records()[0].dagster_run.run_id
    assert (tmp_path / "dagster" / "event_log" / "event_log.db").exists()
