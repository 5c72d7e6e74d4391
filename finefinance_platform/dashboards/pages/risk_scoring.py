"""Customer Health & Risk Scoring: a transparent score per customer, its distribution, the riskiest.

An advisor sees their own customers' scores; a director the distribution of every customer's
score, never a customer's line (access/policy.py).
"""

import pandas as pd
import streamlit as st

from finefinance_platform.access.policy import Action, Page, customer_scope, decide
from finefinance_platform.dashboards import common, risk

principal = common.page_principal(Page.RISK)
common.allow_or_stop(principal, Action.VIEW_RISK_DISTRIBUTION)
show_customers = bool(decide(principal, Action.VIEW_RISK_SCORES))

st.title("Customer Health & Risk Scoring")
st.caption(
    f"A score from 0 (healthy) to 100 (at risk) per customer, over the {risk.WINDOW_MONTHS} months "
    "ending with the chosen month (marts.customer_risk_score)."
)

month = common.month_picker("Score as of")
if show_customers:
    scores = common.query("risk_table", month, customer_scope(principal))
else:  # a director: every customer's score and band, nothing that names a customer
    scores = common.query("risk_distribution", month)
if scores.empty:
    st.info("No customer has data for this month.")
    st.stop()

with st.expander("How the score is computed", expanded=False):
    for rule in risk.RULES:
        st.markdown(f"- {rule}")

band_counts = scores["band"].value_counts()
columns = st.columns(len(risk.BANDS) + 1)
columns[0].metric("Customers scored", f"{len(scores):,}")
for column, (label, _) in zip(columns[1:], risk.BANDS, strict=True):
    column.metric(f"{label} risk", f"{int(band_counts.get(label, 0)):,}")

st.subheader("Score distribution")
bins = pd.cut(scores["score"], bins=range(0, 110, 10), right=False, labels=[f"{i}-{i + 9}" for i in range(0, 100, 10)])
distribution = bins.value_counts().sort_index().rename_axis("score").reset_index(name="customers")
distribution["score"] = distribution["score"].astype(str)
st.bar_chart(distribution, x="score", y="customers", x_label="score band", y_label="customers")

if not show_customers:
    st.caption("Customers' individual scores are shown to their advisors only.")
    st.stop()
common.log(principal, Action.VIEW_RISK_SCORES, "allowed", month_start=month, detail=f"{len(scores)} customers")
st.subheader("Riskiest customers")
top = st.slider("How many", min_value=5, max_value=100, value=20, step=5, key="top_n")
st.dataframe(
    scores.head(top)[
        [
            "name", "profile", "score", "band", "red_points", "overdraft_points", "spending_points",
            "debt_points", "months_in_red", "lowest_balance", "outflows", "inflows", "loans_outstanding",
            "customer_id",
        ]
    ],
    hide_index=True,
    column_config=common.money_columns("lowest_balance", "outflows", "inflows", "loans_outstanding"),
)  # fmt: skip
