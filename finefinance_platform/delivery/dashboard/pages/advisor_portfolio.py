"""Advisor Portfolio Summary: each advisor's book and their two action lists for a month."""

import streamlit as st

from finefinance_platform.delivery.dashboard import common

st.title("Advisor Portfolio Summary")
st.caption(
    "Customers, money held (month-end balances), loans outstanding and investments held per advisor; "
    "upgrade candidates (high withdrawals, loans or investments 3 months running) and customers who "
    "need budget support (in the red 3 months running)."
)

month = common.month_picker()
portfolios = common.query("advisor_portfolios", month)
if portfolios.empty:
    st.info("No advisor in the marts yet.")
    st.stop()

totals = st.columns(4)
totals[0].metric("Customers", f"{int(portfolios['customers'].sum()):,}")
totals[1].metric("Money held", common.eur_short(portfolios["money_held"].sum()))
totals[2].metric("Loans outstanding", common.eur_short(portfolios["loans_outstanding"].sum()))
totals[3].metric("Investments held", common.eur_short(portfolios["investments_held"].sum()))

st.subheader("All advisors")
st.dataframe(
    portfolios.drop(columns=["advisor_id"]),
    hide_index=True,
    column_config=common.money_columns("money_held", "loans_outstanding", "investments_held"),
)

names = dict(zip(portfolios["advisor_id"], portfolios["advisor"] + " (" + portfolios["city"] + ")", strict=True))
advisor_id = st.selectbox("Advisor", list(names), format_func=names.get, key="advisor")
book = portfolios[portfolios["advisor_id"] == advisor_id].iloc[0]
st.subheader(f"{book['advisor']} · {month:%B %Y}")
mine = st.columns(4)
mine[0].metric("Customers", f"{int(book['customers']):,}")
mine[1].metric("Money held", common.eur_short(book["money_held"]))
mine[2].metric("Loans outstanding", common.eur_short(book["loans_outstanding"]))
mine[3].metric("Investments held", common.eur_short(book["investments_held"]))

upgrades = common.query("upgrade_candidates", month, advisor_id)
support = common.query("budget_support", month, advisor_id)
left, right = st.columns(2)
with left:
    st.markdown(f"#### Upgrade candidates ({len(upgrades)})")
    if upgrades.empty:
        st.caption("Nobody this month.")
    else:
        st.dataframe(upgrades, hide_index=True)
with right:
    st.markdown(f"#### Budget support ({len(support)})")
    if support.empty:
        st.caption("Nobody this month.")
    else:
        st.dataframe(support, hide_index=True, column_config=common.money_columns("month_end_balance"))
