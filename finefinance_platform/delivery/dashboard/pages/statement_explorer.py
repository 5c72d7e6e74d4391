"""Monthly Statement Explorer: pick a customer and a month, read the statement, download it."""

import pandas as pd
import streamlit as st

from finefinance_platform.delivery.dashboard import common
from finefinance_platform.delivery.pdf import category_label, period_label
from finefinance_platform.delivery.statement import format_amount, render

MAX_OPTIONS = 500  # a select box of every customer of a large bank would not be usable anyway

st.title("Monthly Statement Explorer")
st.caption("The statement exactly as the customer receives it, from the statement marts.")

customers = common.query("customers")
if customers.empty:
    st.info("No customer in the marts yet.")
    st.stop()

search = st.text_input("Search a customer (name or id)", key="customer_search").strip().lower()
matches = customers
if search:
    matches = customers[
        customers["name"].str.lower().str.contains(search, regex=False)
        | customers["customer_id"].str.lower().str.startswith(search)
    ]
if matches.empty:
    st.warning(f"No customer matches {search!r}.")
    st.stop()
if len(matches) > MAX_OPTIONS:
    st.caption(f"{len(matches):,} customers match: showing the first {MAX_OPTIONS}, refine the search.")
    matches = matches.head(MAX_OPTIONS)

labels = dict(zip(matches["customer_id"], matches["name"] + " (" + matches["profile"] + ")", strict=True))
left, right = st.columns(2)
customer_id = left.selectbox("Customer", list(labels), format_func=labels.get, key="customer")
months = [entry["month"] for entry in common.query("customer_statement_months", customer_id)]
if not months:
    st.info("This customer has no statement for a closed month yet.")
    st.stop()
month_text = right.selectbox("Month", months, key="statement_month")
statement = common.statement(customer_id, pd.Timestamp(month_text + "-01").date())
if statement is None:
    st.stop()

st.subheader(f"{statement.customer_name} · {period_label(statement)}")
pdf_col, csv_col, _ = st.columns([1, 1, 4])
stem = f"statement-{statement.month_label}-{statement.customer_id}"
pdf_col.download_button("Download PDF", render(statement, "pdf"), f"{stem}.pdf", "application/pdf", key="pdf")
csv_col.download_button("Download CSV", render(statement, "csv"), f"{stem}.csv", "text/csv", key="csv")

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
