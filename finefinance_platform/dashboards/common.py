"""Streamlit plumbing shared by the pages: who is signed in, the policy's gate and the access log,
cached queries on the serving copy, month picker, money."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, Page, Principal, decide
from finefinance_platform.dashboards import queries, sessions, value_queries
from finefinance_platform.errors import FineFinanceError
from finefinance_platform.serving.marts import MartsUnavailableError, open_marts, published_at, serving_path
from finefinance_platform.settings import Settings, get_settings
from finefinance_platform.statements.issuing.issued import load_issued_statement
from finefinance_platform.statements.model import Statement


def dashboard_settings() -> Settings:
    """The settings of this run of a page: the dashboards' edge, where they are read (Streamlit runs
    each page as a script of its own, with no caller to pass them in)."""
    return get_settings()


def current_principal() -> Principal:
    """The signed-in person from the identity token's claims (Streamlit verified the cookie's
    signature), while their session lasts: an expired or signed-out session is anonymous, so the
    person sees the sign-in page (sessions.py says why Streamlit alone does not end it)."""
    if not st.user.get("is_logged_in"):
        return Principal.anonymous()
    claims = st.user.to_dict()
    try:
        reason = sessions.ended(claims, None, dashboard_settings())
    except Exception:  # the deny list cannot be read: refuse rather than trust a cookie blindly
        reason = "unchecked"
    if reason:
        st.session_state["session_ended"] = reason
        return Principal.anonymous()
    return Principal.from_claims(claims)


def sign_out() -> None:
    """The sign-out button: the session is denied on the server first (a copy of the cookie stops
    working), then Streamlit clears the cookie and ends the session at the provider."""
    try:
        if st.user.get("is_logged_in"):
            sessions.sign_out(st.user.to_dict(), None, dashboard_settings())
    finally:
        st.logout()


def log(principal: Principal, action: Action, outcome: str, **fields) -> None:
    """A row of audit.access_log; a row that cannot be written stops the page (no record, no data)."""
    try:
        access_log.record(principal, action, outcome, channel="dashboard", settings=dashboard_settings(), **fields)
    except Exception as exc:  # the page must not show data it could not record
        st.error(f"The access log cannot be written ({type(exc).__name__}): nothing is shown.")
        st.stop()


def allow_or_stop(principal: Principal, action: Action, message: str = "Not available.", **resource) -> None:
    """The policy's decision on `action`; a refusal is logged and ends the page with a message that
    says nothing about the resource (the same for "not yours" and "does not exist")."""
    decision = decide(principal, action, **resource)
    if decision:
        return
    log(principal, action, "denied", customer_id=resource.get("customer_id"), detail=decision.reason)
    st.error(message)
    st.stop()


def page_principal(page: Page) -> Principal:
    """The signed-in person, if this page is theirs: a page opened by URL is checked here too."""
    principal = current_principal()
    allow_or_stop(principal, Action.OPEN_PAGE, "This page is not available to you.", page=page)
    return principal


def data_version() -> tuple[str, int]:
    """Which file the readers use and when it last changed: part of every cache key, so a new
    publish (or another FINEFINANCE_HOME) is never answered from the old cache."""
    settings = dashboard_settings()
    if settings.warehouse == "snowflake":
        # no file to watch: the cache's ttl bounds how stale a page can be
        return f"snowflake:{settings.snowflake.database}", 0
    for path in (serving_path(settings), settings.duckdb_path):
        if path.exists():
            return str(path), path.stat().st_mtime_ns
    return "", 0


_QUERY_MODULES = {"queries": queries, "value_queries": value_queries}


@st.cache_data(ttl=600, show_spinner=False)
def _cached_query(name: str, version: tuple[str, int], args: tuple, module: str = "queries") -> pd.DataFrame | list:
    with open_marts(dashboard_settings()) as con:
        return getattr(_QUERY_MODULES[module], name)(con, *args)


@st.cache_data(ttl=600, show_spinner=False)
def _cached_statement(customer_id: str, month: dt.date, issued: int | None, version: tuple[str, int]) -> Statement:
    with open_marts(dashboard_settings()) as con:
        return load_issued_statement(con, customer_id, month, issued)


def query(name: str, *args, module: str = "queries"):
    """`queries.<name>(con, *args)` (or `value_queries.<name>`) on the marts, cached; stops the page
    with a clear message if the marts cannot be read."""
    try:
        return _cached_query(name, data_version(), args, module)
    except MartsUnavailableError as exc:
        st.error(str(exc))
        st.stop()


def statement(customer_id: str, month: dt.date, issued: int | None = None) -> Statement | None:
    """An issued version of the statement (the latest by default), or None with a warning shown."""
    try:
        return _cached_statement(customer_id, month, issued, data_version())
    except FineFinanceError as exc:
        st.warning(str(exc))
        return None


def sidebar_data_note() -> None:
    settings = dashboard_settings()
    try:
        with open_marts(settings) as con:
            published = published_at(con)
    except MartsUnavailableError:
        return
    if published:
        st.sidebar.caption(f"Marts published {published:%Y-%m-%d %H:%M} UTC")
    elif settings.warehouse == "snowflake":
        st.sidebar.caption("Reading the marts on Snowflake")
    else:
        st.sidebar.caption("Reading the warehouse directly (no serving copy published yet)")


def month_picker(label: str = "Month", key: str = "month") -> dt.date:
    months = query("closed_months")
    if not months:
        st.info("No closed month in the marts yet: run the pipeline first (`finefinance run`).")
        st.stop()
    return st.selectbox(label, months, format_func=lambda month: f"{month:%B %Y}", key=key)


def eur(value) -> str:
    return f"{float(value):,.2f} EUR"


def eur_short(value) -> str:
    """Large amounts abbreviated (k, M), so a total fits its metric card; tables keep the cents."""
    value = float(value)
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f} M EUR"
    if abs(value) >= 1e4:
        return f"{value / 1e3:,.1f} k EUR"
    return eur(value)


def money_columns(*names: str) -> dict:
    return {name: st.column_config.NumberColumn(format="euro") for name in names}
