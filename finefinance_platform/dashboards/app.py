"""FineFinance dashboards: `finefinance dashboard` runs this with `streamlit run` (through launcher.py).

Nobody signed in sees the sign-in page only. A signed-in person's navigation holds the pages of
their role (access/policy.py); each page checks the policy again and reads only what it allows.
"""

import streamlit as st

from finefinance_platform.access.policy import Page, pages_for
from finefinance_platform.dashboards import PAGES_DIR
from finefinance_platform.dashboards.common import current_principal, sidebar_data_note, sign_out

st.set_page_config(page_title="FineFinance dashboards", page_icon=":bank:", layout="wide")

PAGES = {
    Page.STATEMENTS: dict(title="Monthly Statement Explorer", icon=":material/receipt_long:"),
    Page.RISK: dict(title="Customer Health & Risk Scoring", icon=":material/health_and_safety:"),
    Page.PORTFOLIO: dict(title="Advisor Portfolio Summary", icon=":material/groups:"),
    Page.KPIS: dict(title="Business KPI Trends", icon=":material/trending_up:"),
    Page.TODAY: dict(title="Today", icon=":material/today:"),
    Page.VALUE: dict(title="Customer value", icon=":material/diamond:"),
}


def sign_in() -> None:
    st.title("FineFinance")
    st.write("Sign in to see your statements, your customers or the bank's figures.")
    if st.session_state.get("session_ended"):
        st.info("Your session has ended: sign in again.")
    if st.button("Sign in", type="primary", key="sign_in"):
        st.login()


principal = current_principal()
if not principal.signed_in:
    st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:", url_path="sign_in")]).run()
    st.stop()

allowed = pages_for(principal)
st.sidebar.markdown("**FineFinance** data platform")
st.sidebar.caption(f"Signed in as {st.user.get('name') or principal.subject} · {principal.role or 'no role'}")
st.sidebar.button("Sign out", on_click=sign_out, key="sign_out")
if not allowed:
    st.error("Your account has no FineFinance role: ask the bank's administrator for access.")
    st.stop()
pages = [st.Page(PAGES_DIR / f"{page}.py", default=index == 0, **PAGES[page]) for index, page in enumerate(allowed)]
sidebar_data_note()
st.navigation(pages).run()
