"""Advisor Portfolio Summary: an advisor's own book and action lists; a director every advisor's totals.

An advisor sees only their book (asking for another's with `?advisor=ID` is refused and logged); a
director sees each advisor's totals and the size of their action lists, never a customer's name.
"""

import streamlit as st

from finefinance_platform.access.policy import Action, Page, Role
from finefinance_platform.dashboards import common

principal = common.page_principal(Page.PORTFOLIO)

st.title("Advisor Portfolio Summary")
st.caption(
    "Customers, money held (month-end balances), loans outstanding and investments held; "
    "upgrade candidates (high withdrawals, loans or investments 3 months running) and customers who "
    "need budget support (in the red 3 months running)."
)

if principal.role is Role.ADVISOR:
    advisor_id = (st.query_params.get("advisor") or principal.advisor_id).strip()
    common.allow_or_stop(principal, Action.VIEW_PORTFOLIO, "No book to show for this link.", advisor_id=advisor_id)
else:
    common.allow_or_stop(principal, Action.VIEW_ADVISOR_TOTALS)
    advisor_id = None

month = common.month_picker()
portfolios = common.query("advisor_portfolios", month, advisor_id)
if portfolios.empty:
    st.info("No advisor in the marts yet.")
    st.stop()

totals = st.columns(4)
totals[0].metric("Customers", f"{int(portfolios['customers'].sum()):,}")
totals[1].metric("Money held", common.eur_short(portfolios["money_held"].sum()))
totals[2].metric("Loans outstanding", common.eur_short(portfolios["loans_outstanding"].sum()))
totals[3].metric("Investments held", common.eur_short(portfolios["investments_held"].sum()))

if advisor_id is None:
    st.subheader("All advisors")
    st.dataframe(
        portfolios.drop(columns=["advisor_id"]),
        hide_index=True,
        column_config=common.money_columns("money_held", "loans_outstanding", "investments_held"),
    )
    st.caption("Customers on the action lists are shown to their own advisor only.")
    st.stop()

book = portfolios.iloc[0]
st.subheader(f"{book['advisor']} · {month:%B %Y}")
upgrades = common.query("upgrade_candidates", month, advisor_id)
support = common.query("budget_support", month, advisor_id)
common.log(
    principal, Action.VIEW_PORTFOLIO, "allowed", month_start=month,
    detail=f"{len(upgrades)} upgrade candidates, {len(support)} budget support",
)  # fmt: skip
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
