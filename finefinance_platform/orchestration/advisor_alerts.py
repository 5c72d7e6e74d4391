"""Advisor alerts go out through the platform's alert path (log, `audit.alerts`, Slack when set).

`marts.intraday_alerts` records each event once (dbt, built by the live cycle). This asset, next in
the cycle, sends the events recorded since the ones it sent last: it keeps the newest `detected_at`
it sent in its own materialization's metadata, so a cycle run twice sends nothing twice. Advisors
see their own alerts in the dashboards' Today view; this is the push beside it, for operations.
"""

# no `from __future__ import annotations`: Dagster reads the context and resource annotations
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from finefinance_platform.orchestration.alerts import Alert, record_alert
from finefinance_platform.warehouse import WarehouseResource

INTRADAY_ALERTS_KEY = AssetKey(["marts", "intraday_alerts"])
ALERT_NOTICES_KEY = AssetKey(["delivery", "advisor_alert_notices"])
# beyond this many in one cycle (the first cycle over a month of history), one summary line: a
# channel flooded with hundreds of lines is a channel nobody reads
MAX_NOTICES_PER_CYCLE = 20
LAST_SENT = "last_detected_at"


def alert_message(kind: str, customer_id: str, advisor_id: str | None, amount, balance_after, booked_at) -> str:
    what = "went into the red" if kind == "went_into_red" else "made a large withdrawal"
    return (
        f"customer {customer_id} (advisor {advisor_id or 'none'}) {what}: {amount:,.2f} EUR booked "
        f"{booked_at:%Y-%m-%d %H:%M} UTC, balance after {balance_after:,.2f} EUR"
    )


@asset(
    key=ALERT_NOTICES_KEY,
    deps=[INTRADAY_ALERTS_KEY],
    group_name="delivery",
    description="Sends the advisor alerts recorded since the last cycle through the alert path "
    "(log, audit.alerts, Slack when configured), each once.",
)
def advisor_alert_notices(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    previous = context.instance.get_latest_materialization_event(ALERT_NOTICES_KEY)
    last_sent = None
    if previous is not None and previous.asset_materialization is not None:
        entry = previous.asset_materialization.metadata.get(LAST_SENT)
        last_sent = entry.value if entry is not None else None
    columns = "alert_id, kind, customer_id, advisor_id, amount, balance_after, booked_at, cast(detected_at as varchar)"
    sql = f"select {columns} from marts.intraday_alerts"
    params: list = []
    if last_sent:
        sql += f" where cast(detected_at as varchar) > {warehouse.placeholder}"
        params.append(last_sent)
    rows = warehouse.query(sql + " order by detected_at, booked_at, alert_id", params)
    for _alert_id, kind, customer_id, advisor_id, amount, balance_after, booked_at, _ in rows[:MAX_NOTICES_PER_CYCLE]:
        record_alert(
            Alert(
                "advisor_alert", "WARN", alert_message(kind, customer_id, advisor_id, amount, balance_after, booked_at)
            ),
            warehouse.settings,
        )
    if len(rows) > MAX_NOTICES_PER_CYCLE:
        record_alert(
            Alert(
                "advisor_alert",
                "WARN",
                f"{len(rows) - MAX_NOTICES_PER_CYCLE} more advisor alerts this cycle: see marts.intraday_alerts "
                "or the dashboards' Today view",
            ),
            warehouse.settings,
        )
    newest = rows[-1][-1] if rows else last_sent
    context.log.info(f"{len(rows)} advisor alert(s) sent")
    return MaterializeResult(metadata={"sent": len(rows), **({LAST_SENT: newest} if newest else {})})
