"""Business KPI Trends: revenue, transactions, new customers, profiles, categories, month by month."""

import pandas as pd
import streamlit as st

from finefinance_platform.access.policy import Action, Page
from finefinance_platform.dashboards import common

principal = common.page_principal(Page.KPIS)
common.allow_or_stop(principal, Action.VIEW_KPIS)

st.title("Business KPI Trends")
st.caption("Month-over-month growth: 100 x (this month - last month) / last month.")

growth = common.query("kpi_growth")
if growth.empty:
    st.info("No KPI in the marts yet.")
    st.stop()
growth["month"] = pd.to_datetime(growth["month_start"])
# bars on a time axis are hairlines: bar charts get the month as a label, line charts the date
growth["month_label"] = growth["month"].dt.strftime("%Y-%m")
latest = growth.iloc[-1]


def delta(value) -> str | None:
    return None if pd.isna(value) else f"{value:+.1f} %"


st.subheader(f"{latest['month']:%B %Y}")
cards = st.columns(4)
cards[0].metric("Revenue", common.eur(latest["revenue"]), delta(latest["revenue_growth_pct"]))
cards[1].metric("Transaction volume", common.eur_short(latest["transaction_amount"]))
cards[2].metric("Transactions", f"{int(latest['transaction_count']):,}", delta(latest["transaction_count_growth_pct"]))
cards[3].metric("New customers", f"{int(latest['new_customers']):,}", delta(latest["new_customers_growth_pct"]))

left, right = st.columns(2)
with left:
    st.markdown("#### Revenue (EUR): loan interest and card fees")
    st.bar_chart(growth, x="month_label", y=["interest_income", "card_fee_income"], x_label="month", y_label="EUR")
    st.markdown("#### Transaction count")
    st.line_chart(growth, x="month", y="transaction_count")
with right:
    st.markdown("#### Transaction volume (EUR)")
    st.line_chart(growth, x="month", y="transaction_amount", y_label="EUR")
    st.markdown("#### New customers")
    st.bar_chart(growth, x="month_label", y="new_customers", x_label="month")

st.markdown("#### Growth rates (%)")
rates = growth[["month", "revenue_growth_pct", "transaction_count_growth_pct", "new_customers_growth_pct"]].rename(
    columns={
        "revenue_growth_pct": "revenue",
        "transaction_count_growth_pct": "transactions",
        "new_customers_growth_pct": "new customers",
    }
)
st.line_chart(rates, x="month", y=["revenue", "transactions", "new customers"], y_label="% vs previous month")

profiles = common.query("customers_per_profile")
categories = common.query("transactions_per_category")
left, right = st.columns(2)
with left:
    st.markdown("#### Customers per profile")
    profiles["month"] = pd.to_datetime(profiles["month_start"]).dt.strftime("%Y-%m")
    st.bar_chart(profiles, x="month", y="customer_count", color="profile", y_label="customers")
with right:
    st.markdown("#### Transactions per month by category")
    categories["month"] = pd.to_datetime(categories["month_start"]).dt.strftime("%Y-%m")
    measure = st.radio("Show", ["count", "amount (EUR)"], horizontal=True, key="category_measure")
    column = "transaction_count" if measure == "count" else "transaction_amount"
    st.bar_chart(categories, x="month", y=column, color="category", y_label=measure)

with st.expander("The numbers"):
    st.dataframe(growth.drop(columns=["month", "month_label"]), hide_index=True)
