"""Who may see what: the one access policy, the verification of access tokens, the access log.

Every reader of customer data (dashboards, statement service, CLI exports) asks `policy` before it
reads and writes what happened to `access_log`; the identity comes from OpenID Connect tokens
(`tokens` for the statement service, Streamlit's `st.user` for the dashboards).
"""
