"""The marts of docs/business-definitions.md computed independently, in pandas, straight from the source database.

Written from the business definitions, not from the dbt SQL, so a test comparing the two catches a
wrong model as well as a wrong expectation.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import psycopg2

HIGH_WITHDRAWALS, HIGH_LOANS, HIGH_INVESTMENTS, STREAK = 5000, 50000, 25000, 3
PROFILE_LABELS = {"bronze": "Bronze", "gold": "Gold", "diamant": "Diamond"}


def read_source(dsn: str) -> dict[str, pd.DataFrame]:
    queries = {
        "customer": "select customer_id::text, signup_date, profile_level, advisor_id::text from crm.customer",
        "account": "select account_id::text, customer_id::text, open_date, closed_date from banking.account",
        "transaction": (
            "select transaction_id::text, sender_account_id::text, receiver_account_id::text, "
            "(booked_at at time zone 'UTC') as booked, amount, category, status from banking.transaction"
        ),
        "loan": "select customer_id::text, amount, interest_rate, start_date, end_date from product.loan",
        "investment": "select customer_id::text, amount, opened_at as start_date, closed_at as end_date "
        "from product.investment",
        "card": "select customer_id::text, fee, start_date, end_date from product.credit_card",
    }
    frames = {}
    with closing(psycopg2.connect(dsn)) as conn:
        for name, sql in queries.items():
            with conn.cursor() as cur:
                cur.execute(sql)
                frames[name] = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    return frames


def month_end(month: dt.date) -> dt.date:
    return (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()


def cents(value) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _active(frame: pd.DataFrame, month: dt.date) -> pd.DataFrame:
    """Started on or before the month's last day and not ended before its first day."""
    return frame[(frame.start_date <= month_end(month)) & (frame.end_date.isna() | (frame.end_date >= month))]


def compute(dsn: str, months: list[dt.date]) -> dict[str, pd.DataFrame]:
    src = read_source(dsn)
    txn = src["transaction"]
    txn = txn[txn.status == "completed"].copy()
    # a completed transaction counts in its booking month (docs/business-definitions.md#booking-month)
    txn["month"] = txn.booked.map(lambda t: t.date().replace(day=1))
    txn["cents"] = txn.amount.map(cents)
    owner = dict(zip(src["account"].account_id, src["account"].customer_id))

    # account × month statements: credits for the receiver, debits for the sender
    debits = txn.dropna(subset=["sender_account_id"]).groupby(["sender_account_id", "month"]).cents.sum()
    credits = txn.dropna(subset=["receiver_account_id"]).groupby(["receiver_account_id", "month"]).cents.sum()
    statements, customer_month = [], []
    balance = {}  # account -> running closing balance (cents), all history
    # history starts with the data (first sign-up, account opening or transaction): a streak that
    # began before the first partition counts its earlier months too
    first = min(
        [
            *txn.month,
            *months,
            *(d.replace(day=1) for d in src["customer"].signup_date),
            *(d.replace(day=1) for d in src["account"].open_date),
        ]
    )
    month = first
    all_months = []
    while month <= months[-1]:
        all_months.append(month)
        month = (pd.Timestamp(month) + pd.offsets.MonthBegin(1)).date()
    accounts = src["account"]
    for month in all_months:
        for account in accounts.itertuples():
            c = int(credits.get((account.account_id, month), 0))
            d = int(debits.get((account.account_id, month), 0))
            opening = balance.get(account.account_id, 0)
            balance[account.account_id] = opening + c - d
            open_in_month = account.open_date <= month_end(month) and (
                pd.isna(account.closed_date) or account.closed_date >= month
            )
            if month in months and open_in_month:
                statements.append((account.account_id, month, opening, c, d, opening + c - d))
        for customer in src["customer"].itertuples():
            if customer.signup_date > month_end(month):
                continue
            own = accounts[accounts.customer_id == customer.customer_id].account_id
            customer_month.append((customer.customer_id, month, sum(balance.get(a, 0) for a in own)))
    statements = pd.DataFrame(
        statements, columns=["account_id", "month_start", "opening", "credits", "debits", "closing"]
    )
    customer_month = pd.DataFrame(customer_month, columns=["customer_id", "month_start", "balance"])

    # withdrawals: the customer's debits, except transfers between two accounts of their own
    txn["sender_customer"] = txn.sender_account_id.map(owner)
    txn["receiver_customer"] = txn.receiver_account_id.map(owner)
    outflows = txn[txn.sender_customer.notna() & (txn.sender_customer != txn.receiver_customer)]
    withdrawals = outflows.groupby(["sender_customer", "month"]).cents.sum()

    rows = []
    for row in customer_month.itertuples():
        loans = _active(src["loan"][src["loan"].customer_id == row.customer_id], row.month_start)
        investments = _active(src["investment"][src["investment"].customer_id == row.customer_id], row.month_start)
        rows.append(
            (
                int(withdrawals.get((row.customer_id, row.month_start), 0)),
                sum(cents(a) for a in loans.amount),
                sum(cents(a) for a in investments.amount),
            )
        )
    customer_month[["withdrawals", "loans", "investments"]] = rows
    customer_month = customer_month.sort_values(["customer_id", "month_start"]).reset_index(drop=True)

    def streak(flag: pd.Series) -> pd.Series:
        # months are consecutive per customer (signed up customers appear every month after sign-up)
        groups = (~flag).groupby(customer_month.customer_id).cumsum()
        return flag.groupby([customer_month.customer_id, groups]).cumsum().astype(int)

    customer_month["red"] = streak(customer_month.balance < 0)
    customer_month["high_w"] = streak(customer_month.withdrawals >= HIGH_WITHDRAWALS * 100)
    customer_month["high_l"] = streak(customer_month.loans >= HIGH_LOANS * 100)
    customer_month["high_i"] = streak(customer_month.investments >= HIGH_INVESTMENTS * 100)
    advisor = dict(zip(src["customer"].customer_id, src["customer"].advisor_id))
    customer_month["advisor_id"] = customer_month.customer_id.map(advisor)
    budget = customer_month[customer_month.red >= STREAK]
    upgrade = customer_month[
        (customer_month.high_w >= STREAK) | (customer_month.high_l >= STREAK) | (customer_month.high_i >= STREAK)
    ]

    kpis = []
    for month in all_months:  # the month before the first partition gives its growth rates
        loans = _active(src["loan"], month)
        cards = _active(src["card"], month)
        interest = sum(Decimal(str(a)) * Decimal(str(r)) / 12 for a, r in zip(loans.amount, loans.interest_rate))
        fees = sum(Decimal(str(f)) for f in cards.fee)
        in_month = txn[txn.month == month]
        new = int(((src["customer"].signup_date >= month) & (src["customer"].signup_date <= month_end(month))).sum())
        kpis.append((month, interest, fees, len(in_month), int(in_month.cents.sum()), new))
    kpis = pd.DataFrame(kpis, columns=["month_start", "interest", "fees", "count", "cents", "new_customers"])

    per_category = (
        txn[txn.month.isin(months)]
        .groupby(["month", "category"])
        .agg(transaction_count=("cents", "size"), cents=("cents", "sum"))
        .reset_index()
    )

    profiles = []
    for month in months:
        signed = src["customer"][src["customer"].signup_date <= month_end(month)]
        for level, count in signed.profile_level.value_counts().items():
            profiles.append((month, PROFILE_LABELS[level], int(count)))
    profiles = pd.DataFrame(profiles, columns=["month_start", "profile", "customer_count"])

    return {
        "statements": statements,
        "customer_month": customer_month[customer_month.month_start.isin(months)],
        "budget": budget[budget.month_start.isin(months)],
        "upgrade": upgrade[upgrade.month_start.isin(months)],
        "kpis": kpis,
        "per_category": per_category,
        "profiles": profiles,
    }
