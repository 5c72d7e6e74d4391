"""Today: the bank's bookings so far today against the same weekday's average, and the alerts.

Refreshed by the live cycle (every 5 minutes; `finefinance live`). An advisor sees the alerts of
their own customers (went into the red, large withdrawal); a director sees how many there are,
never whose.
"""

import pandas as pd
import streamlit as st

from finefinance_platform.access.policy import Action, Page, Role, customer_scope
from finefinance_platform.dashboards import common
from finefinance_platform.dashboards.queries import utc_today

principal = common.page_principal(Page.TODAY)
common.allow_or_stop(principal, Action.VIEW_TODAYS_ACTIVITY)

today = utc_today()
st.title("Today")
activity = common.query("todays_activity", today)
if activity.empty:
    st.info("No activity in the marts yet: the live cycle has not run (`finefinance live`).")
    st.stop()
as_of = pd.Timestamp(activity["as_of"].max())
st.caption(
    f"Bookings of {today:%A %d %B %Y} (UTC) so far, as of {as_of:%H:%M} UTC, against the average "
    f"{today:%A} of the last weeks. The live cycle refreshes them every few minutes."
)


def versus(now: float, usual: float) -> str | None:
    return None if not usual else f"{100 * (now - usual) / usual:+.0f} % vs a usual {today:%A}"


cards = st.columns(3)
cards[0].metric(
    "Transactions today",
    f"{int(activity['transactions'].sum()):,}",
    versus(activity["transactions"].sum(), activity["usual_transactions"].sum()),
)
cards[1].metric(
    "Booked today",
    common.eur_short(activity["amount"].sum()),
    versus(activity["amount"].sum(), activity["usual_amount"].sum()),
)

st.markdown("#### By category")
st.dataframe(
    activity.drop(columns=["as_of"]),
    hide_index=True,
    column_config={
        **common.money_columns("amount", "usual_amount"),
        "usual_transactions": st.column_config.NumberColumn(format="%.1f"),
    },
)

if principal.role is Role.ADVISOR:
    common.allow_or_stop(principal, Action.VIEW_ALERTS)
    alerts = common.query("todays_alerts", customer_scope(principal), today)
    cards[2].metric("Your alerts today", f"{len(alerts):,}")
    common.log(principal, Action.VIEW_ALERTS, "allowed", detail=f"{len(alerts)} alerts of {today}")
    st.markdown(f"#### Your customers' alerts ({len(alerts)})")
    if alerts.empty:
        st.caption("None today.")
    else:
        alerts["kind"] = alerts["kind"].map(
            {"went_into_red": "went into the red", "large_withdrawal": "large withdrawal"}
        )
        st.dataframe(
            alerts.drop(columns=["customer_id"]),
            hide_index=True,
            column_config=common.money_columns("amount", "balance_after"),
        )
else:
    counts = common.query("todays_alert_counts", today)
    cards[2].metric("Alerts today", f"{int(counts['alerts'].sum()) if not counts.empty else 0:,}")
    st.caption("Each alert is shown to the customer's own advisor only.")
