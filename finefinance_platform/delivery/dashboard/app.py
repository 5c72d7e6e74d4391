"""FineFinance dashboards: `finefinance dashboard` runs this with `streamlit run`."""

import streamlit as st

from finefinance_platform.delivery.dashboard import PAGES_DIR
from finefinance_platform.delivery.dashboard.common import sidebar_data_note

st.set_page_config(page_title="FineFinance dashboards", page_icon=":bank:", layout="wide")

pages = st.navigation(
    {
        "Customers": [
            st.Page(
                PAGES_DIR / "statement_explorer.py",
                title="Monthly Statement Explorer",
                icon=":material/receipt_long:",
                default=True,
            ),
            st.Page(
                PAGES_DIR / "risk_scoring.py",
                title="Customer Health & Risk Scoring",
                icon=":material/health_and_safety:",
            ),
        ],
        "Advisors & directors": [
            st.Page(PAGES_DIR / "advisor_portfolio.py", title="Advisor Portfolio Summary", icon=":material/groups:"),
            st.Page(PAGES_DIR / "kpi_trends.py", title="Business KPI Trends", icon=":material/trending_up:"),
        ],
    }
)
st.sidebar.markdown("**FineFinance** data platform")
sidebar_data_note()
pages.run()
