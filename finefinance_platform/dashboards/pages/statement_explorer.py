"""Monthly Statement Explorer: a customer reads their own statements; an advisor their customers'.

The statement shown is the latest issued version (delivery.statement_issues); when a month was
corrected, every version is listed with its reason and can be downloaded.

The customers offered are those of the reader's scope only (access/policy.py): another advisor's
customer is not in the select box, and asking for one by URL (`?customer=ID&month=YYYY-MM`) is
refused like an unknown one, and logged.
"""

import pandas as pd
import streamlit as st

from finefinance_platform.access import access_log
from finefinance_platform.access.policy import Action, Page, Role, customer_scope
from finefinance_platform.dashboards import common, sessions
from finefinance_platform.statements.model import Statement, format_amount
from finefinance_platform.statements.pdf import category_label, period_label, replaced_on
from finefinance_platform.statements.render import render

MAX_OPTIONS = 500  # a select box of every customer of a large book would not be usable anyway
REFUSED = "No statement to show for this link."

principal = common.page_principal(Page.STATEMENTS)
scope = customer_scope(principal)

st.title("Monthly Statement Explorer")
st.caption("The statement exactly as the customer receives it: its latest issued version.")

asked_customer = st.query_params.get("customer")
if asked_customer is not None:
    # a deep link: decided on the customer's advisor in the marts, never on what the page offers
    advisor_of_asked = common.query("customer_advisor", asked_customer.strip())
    common.allow_or_stop(
        principal, Action.VIEW_STATEMENT, REFUSED, customer_id=asked_customer.strip(),
        customer_advisor_id=advisor_of_asked,
    )  # fmt: skip

customers = common.query("customers", scope)
if customers.empty:
    st.info("No customer to show yet.")
    st.stop()

if principal.role is Role.CUSTOMER:
    customer_id = principal.customer_id
    labels = dict(zip(customers["customer_id"], customers["name"], strict=True))
    left, right = st.columns(2)
    left.markdown(f"**{labels.get(customer_id, '')}**")
else:
    search = st.text_input("Search a customer (name or id)", key="customer_search").strip().lower()
    matches = customers
    if search:
        matches = customers[
            customers["name"].str.lower().str.contains(search, regex=False)
            | customers["customer_id"].str.lower().str.startswith(search)
        ]
    if matches.empty:
        st.warning(f"No customer of yours matches {search!r}.")
        st.stop()
    if len(matches) > MAX_OPTIONS:
        st.caption(f"{len(matches):,} customers match: showing the first {MAX_OPTIONS}, refine the search.")
        matches = matches.head(MAX_OPTIONS)
    labels = dict(zip(matches["customer_id"], matches["name"] + " (" + matches["profile"] + ")", strict=True))
    options = list(labels)
    if asked_customer is not None and asked_customer.strip() in labels:
        st.session_state.setdefault("customer", asked_customer.strip())
    left, right = st.columns(2)
    customer_id = left.selectbox("Customer", options, format_func=labels.get, key="customer")

# the policy decides on the customer's advisor as the marts record it
advisor_of_customer = common.query("customer_advisor", customer_id)
common.allow_or_stop(
    principal, Action.VIEW_STATEMENT, REFUSED, customer_id=customer_id, customer_advisor_id=advisor_of_customer
)
months = [entry["month"] for entry in common.query("customer_statement_months", customer_id)]
if not months:
    st.info("No statement for a closed month yet.")
    st.stop()
asked_month = st.query_params.get("month")
if asked_month in months:
    st.session_state.setdefault("statement_month", asked_month)
month_text = right.selectbox("Month", months, key="statement_month")
month = pd.Timestamp(month_text + "-01").date()
statement = common.statement(customer_id, month)
if statement is None:
    st.stop()
common.log(principal, Action.VIEW_STATEMENT, "allowed", customer_id=customer_id, month_start=month)


def file_stem(version: int) -> str:
    return f"statement-{month:%Y-%m}-{customer_id}-v{version}"


claims = st.user.to_dict()


def download_button(column, label: str, shown: Statement, file_format: str, key: str) -> None:
    """A download button whose file is made, and logged, only when the person clicks it.

    With bytes for `data`, Streamlit renders every file at each run and publishes it at a /media URL
    before anyone asks; with a callable it runs it on the click, in a thread outside the script.
    There st.* calls are ignored, so a session that has ended since, or a log row that cannot be
    written, raises: the download fails and no file leaves the server."""
    action, mime = (
        (Action.DOWNLOAD_PDF, "application/pdf") if file_format == "pdf" else (Action.DOWNLOAD_CSV, "text/csv")
    )
    version = shown.issue.version
    # bound now: the callable may run after a later run has changed the page's globals
    who, whose, session, month_start = principal, customer_id, claims, month
    settings = common.dashboard_settings()

    def produce() -> bytes:
        if sessions.ended(session, None, settings):
            raise PermissionError("the session has ended")
        content = render(shown, file_format)
        access_log.record(
            who, action, "allowed", channel="dashboard", customer_id=whose, month_start=month_start,
            detail=f"version {version}", settings=settings,
        )  # fmt: skip
        return content

    column.download_button(label, produce, f"{file_stem(version)}.{file_format}", mime, key=key, on_click="ignore")


issue = statement.issue
st.subheader(f"{statement.customer_name} · {period_label(statement)}")
if issue.is_correction:
    st.info(
        f"Corrected statement: version {issue.version}, issued on {issue.issued_at:%Y-%m-%d}, corrects the "
        f"statement issued on {replaced_on(statement)}."
    )
else:
    st.caption(f"Version {issue.version}, issued on {issue.issued_at:%Y-%m-%d}.")
pdf_col, csv_col, _ = st.columns([1, 1, 4])
download_button(pdf_col, "Download PDF", statement, "pdf", key="pdf")
download_button(csv_col, "Download CSV", statement, "csv", key="csv")

versions = common.query("statement_versions", customer_id, month)
if len(versions) > 1:
    st.markdown(f"#### Versions of this statement ({len(versions)})")
    st.dataframe(
        pd.DataFrame(
            {
                "Version": [record.version for record in versions],
                "Issued on": [record.issued_at.date() for record in versions],
                "Replaces": [record.replaces_version for record in versions],
                "Closing before": [format_amount(record.closing_before) for record in versions],
                "Closing after": [format_amount(record.closing_after) for record in versions],
                "Reason": [record.reason or "first issue" for record in versions],
            }
        ),
        hide_index=True,
        width="stretch",
        key="versions",
    )
    for record in reversed(versions[:-1]):  # the latest is the one above
        earlier = common.statement(customer_id, month, record.version)
        if earlier is None:
            continue
        label, pdf_col, csv_col = st.columns([2, 1, 1])
        label.markdown(f"Version {record.version}, issued on {record.issued_at:%Y-%m-%d} (replaced)")
        download_button(pdf_col, f"Version {record.version} PDF", earlier, "pdf", key=f"pdf-v{record.version}")
        download_button(csv_col, f"Version {record.version} CSV", earlier, "csv", key=f"csv-v{record.version}")

for account in statement.accounts:
    st.markdown(f"#### {account.label} · `{account.account_id}`")
    opening, credits, debits, closing = st.columns(4)
    opening.metric("Opening balance", common.eur(account.opening_balance))
    credits.metric("Total credits", common.eur(account.total_credits))
    debits.metric("Total debits", common.eur(account.total_debits))
    closing.metric("Closing balance", common.eur(account.closing_balance))
    if not account.lines:
        st.caption("No completed transactions this month.")
        continue
    st.dataframe(
        pd.DataFrame(
            {
                "Date": [line.transaction_date.date() for line in account.lines],
                "Booked": [line.booked_at.date() for line in account.lines],
                "Description": [line.description for line in account.lines],
                "Category": [category_label(line.category) for line in account.lines],
                "Credit": [format_amount(line.credit) for line in account.lines],
                "Debit": [format_amount(line.debit) for line in account.lines],
                "Balance": [format_amount(line.running_balance) for line in account.lines],
            }
        ),
        hide_index=True,
        width="stretch",
    )
