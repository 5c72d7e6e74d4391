"""Alerts for failed runs and failed checks: a log line always, a row in the warehouse's
`audit.alerts` table always, and a Slack message when a token and channel are configured.

Dagster has a sensor type for failed runs but none for failed checks, so `alert_on_check_failure`
reads the check evaluations recorded by the instance since its cursor.
"""

import datetime as dt
import json
import logging
import warnings
from dataclasses import asdict, dataclass

from dagster import (
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from finefinance_platform.orchestration.run_safety import warehouse_turn
from finefinance_platform.settings import Settings
from finefinance_platform.warehouse import WarehouseLockedError, WarehouseResource, connect_duckdb

logger = logging.getLogger("finefinance.alerts")

# audit.alerts, one definition for both warehouses: a timestamp without time zone (UTC) is
# `timestamp` in DuckDB and `timestamp_ntz` in Snowflake
AUDIT_COLUMNS = (
    ("alerted_at", "{timestamp} not null"),
    ("kind", "varchar not null"),
    ("severity", "varchar not null"),
    ("run_id", "varchar"),
    ("asset_key", "varchar"),
    ("check_name", "varchar"),
    ("message", "varchar not null"),
)


def audit_table_ddl(timestamp: str = "timestamp") -> str:
    columns = ",\n    ".join(f"{name} {kind.format(timestamp=timestamp)}" for name, kind in AUDIT_COLUMNS)
    return f"create table if not exists audit.alerts (\n    {columns}\n)"


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failure | check_failure
    severity: str  # ERROR | WARN
    message: str
    run_id: str | None = None
    asset_key: str | None = None
    check_name: str | None = None
    alerted_at: str = ""

    def with_time(self) -> "Alert":
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return Alert(**{**asdict(self), "alerted_at": self.alerted_at or now})


def _spool_path(settings: Settings):
    return settings.home / "alerts" / "pending.jsonl"


def _audit_row(alert: Alert) -> dict:
    return {name: getattr(alert, name) for name, _ in AUDIT_COLUMNS}


def _write_audit_rows(settings: Settings, alerts: list[Alert]) -> None:
    if settings.warehouse != "duckdb":
        from finefinance_platform.production.snowflake import write_audit_alerts

        write_audit_alerts(settings, audit_table_ddl("timestamp_ntz"), [_audit_row(a) for a in alerts])
        return
    with warehouse_turn(settings) as free:
        if not free:
            # a run holds the warehouse: opening it now could fail that run's next step
            raise WarehouseLockedError(f"a run is using the warehouse {settings.duckdb_path}")
        _insert_audit_rows(settings, alerts)


def _insert_audit_rows(settings: Settings, alerts: list[Alert]) -> None:
    con = connect_duckdb(settings, wait_seconds=30)
    try:
        con.execute("create schema if not exists audit")
        con.execute(audit_table_ddl())
        con.executemany(
            f"insert into audit.alerts ({', '.join(name for name, _ in AUDIT_COLUMNS)}) "
            f"values ({', '.join('?' for _ in AUDIT_COLUMNS)})",
            [list(_audit_row(a).values()) for a in alerts],
        )
    finally:
        con.close()


def record_alert(alert: Alert, settings: Settings) -> None:
    alert = alert.with_time()
    logger.error("ALERT %s [%s] %s", alert.kind, alert.severity, alert.message)
    _send_slack(settings, alert)
    spool = _spool_path(settings)
    pending = []
    if spool.exists():
        pending = [Alert(**json.loads(line)) for line in spool.read_text().splitlines() if line.strip()]
    try:
        _write_audit_rows(settings, pending + [alert])
        spool.unlink(missing_ok=True)
    except (WarehouseLockedError, OSError) as exc:
        # the warehouse is busy with a long run: keep the alert, the next alert or run writes it
        logger.warning("audit table busy (%s): alert kept in %s", exc, spool)
        spool.parent.mkdir(parents=True, exist_ok=True)
        with spool.open("a") as out:
            out.write(json.dumps(asdict(alert)) + "\n")


def _send_slack(settings: Settings, alert: Alert) -> None:
    if not (settings.slack_token and settings.slack_channel):
        return
    from dagster_slack import SlackResource

    try:
        SlackResource(token=settings.slack_token).get_client().chat_postMessage(
            channel=settings.slack_channel,
            text=f":rotating_light: FineFinance {alert.kind} ({alert.severity}): {alert.message}",
        )
    except Exception as exc:  # a Slack outage must not hide the alert: it is still logged and audited
        logger.warning("Slack alert failed: %s", exc)


@run_failure_sensor(name="alert_on_run_failure", default_status=DefaultSensorStatus.RUNNING)
def alert_on_run_failure(context: RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    record_alert(
        Alert("run_failure", "ERROR", f"run {run.run_id[:8]} ({run.job_name}) failed: {message}", run_id=run.run_id),
        warehouse.settings,
    )


@sensor(name="alert_on_check_failure", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def alert_on_check_failure(context: SensorEvaluationContext, warehouse: WarehouseResource):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # get_event_records is the one API that filters by event type
        if not context.cursor:
            # first evaluation: start from now, do not replay the whole history as alerts
            latest = context.instance.get_event_records(
                EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION), limit=1
            )
            context.update_cursor(str(latest[0].storage_id) if latest else "0")
            return SkipReason("cursor initialised")
        records = context.instance.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=int(context.cursor)),
            ascending=True,
            limit=500,
        )
    failed = 0
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            failed += 1
            record_alert(
                Alert(
                    "check_failure",
                    evaluation.severity.value,
                    f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} failed"
                    + (f": {evaluation.description}" if evaluation.description else ""),
                    run_id=record.run_id,
                    asset_key=evaluation.asset_key.to_user_string(),
                    check_name=evaluation.check_name,
                ),
                warehouse.settings,
            )
    if records:
        context.update_cursor(str(records[-1].storage_id))
    if not failed:
        return SkipReason(f"{len(records)} check evaluation(s), none failed")
    return None
