"""The marts on a hand-built bank (issue 3): every number below is computed by hand from the rows.

Five customers over January–May 2025 (all times UTC unless said):

- C1 Chloé (Bronze, advisor A1, signed up Jan): overspends, in the red from February to May.
- C2 Daniel (Gold, advisor A2, signed up Jan): withdrawals >= 5,000 in Feb, Mar, Apr; moves 6,000
  to his own savings in January (not a withdrawal, else January would be high too) and 1,000 back
  in May; a closed 50,000 loan (active in January only); a Livret Jeune closed in February.
- C3 Emma (Bronze -> Gold on 2025-03-20, signed up Feb): a 60,000 loan from February; a card
  active in March and April; a card payment at 2025-03-01 00:30+02:00, which is February in UTC.
- C4 Farid (Diamond, signed up Mar): 30,000 invested from March to May 10.
- C5 Gina (signed up Apr): her first snapshot row is dated after the data (earliest known profile
  Bronze), she becomes Gold later; a 10,000 loan.
- A transfer between two customers (C2 -> C1, C4 -> C5), a pending and a failed transaction, a
  transaction ingested twice, and one ingested pending and then completed.

The marts are built month by month with the month vars, as the monthly partitions do; then a
re-run, a range in one run (carried and recomputed) and a full build must give the same rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from helpers.dbt_runs import (
    CopyStep,
    DbtStep,
    SqlStep,
    create_raw_tables,
    insert_raw,
    money,
    month_vars,
    read_rows,
    run_dbt_steps,
    table_rows,
)

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=2)

MONTHS = ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01"]
MONTHLY = "tag:monthly"
MONTHLY_MARTS = {
    "fct_transaction": "month_start, transaction_id",
    "fct_monthly_statement": "month_start, account_id",
    "fct_statement_line": "month_start, account_id, line_number",
    "fct_customer_month": "month_start, customer_id",
    "advisor_upgrade_candidates": "month_start, customer_id",
    "advisor_budget_support": "month_start, customer_id",
    "kpi_monthly_growth": "month_start",
    "kpi_customers_per_profile": "month_start, profile",
    "kpi_transactions_per_month": "month_start, category",
    "fct_customer_value": "month_start, customer_id",
    "value_tier_migrations": "month_start, from_tier_rank nulls first, to_tier_rank nulls first",
    "customer_risk_score": "month_start, customer_id",
    "advisor_value_actions": "month_start, customer_id, action",
}

UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


def at(text: str, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# accounts: C1, C2 (current, Livret A savings, Livret Jeune closed 2025-02-15), C3, C4, C5
ACCOUNTS = [
    ("acc-c1", "c1", "normal", "2025-01-05", None),
    ("acc-c2-current", "c2", "normal", "2025-01-10", None),
    ("acc-c2-savings", "c2", "LA", "2025-01-10", None),
    ("acc-c2-young", "c2", "LJ", "2025-01-10", "2025-02-15"),
    ("acc-c3", "c3", "normal", "2025-02-03", None),
    ("acc-c4", "c4", "normal", "2025-03-15", None),
    ("acc-c5", "c5", "normal", "2025-04-02", None),
]

# (id, when, category, amount, sender, receiver, counterparty, status)
TRANSACTIONS = [
    # January
    ("t01", at("2025-01-10 09:00"), "salary", "1000.00", None, "acc-c1", "Acme Corp", "completed"),
    ("t02", at("2025-01-12 09:00"), "salary", "20000.00", None, "acc-c2-current", "Big Bank Ltd", "completed"),
    ("t03", at("2025-01-15 10:00"), "transfer", "6000.00", "acc-c2-current", "acc-c2-savings", None, "completed"),
    ("t04", at("2025-01-20 12:00"), "card_payment", "800.00", "acc-c1", None, "Shop", "completed"),
    ("t05", at("2025-01-20 15:00"), "withdrawal", "1000.00", "acc-c2-current", None, "ATM", "completed"),
    # February
    ("t06", at("2025-02-03 10:00"), "withdrawal", "5000.00", "acc-c2-current", None, "ATM", "completed"),
    ("t07", at("2025-02-04 11:00"), "deposit", "500.00", None, "acc-c3", "Former bank", "completed"),
    ("t08", at("2025-02-05 12:00"), "card_payment", "500.00", "acc-c1", None, "Shop", "completed"),
    ("t09", at("2025-02-10 13:00"), "transfer", "200.00", "acc-c2-current", "acc-c1", None, "completed"),
    # 2025-03-01 00:30 in Paris (UTC+2 here) is 2025-02-28 22:30 UTC: a February transaction
    ("t10", at("2025-03-01 00:30", PLUS_TWO), "card_payment", "100.00", "acc-c3", None, "Shop", "completed"),
    # March
    ("t11", at("2025-03-02 10:00"), "withdrawal", "3000.00", "acc-c2-current", None, "ATM", "completed"),
    ("t12", at("2025-03-03 10:00"), "card_payment", "2500.00", "acc-c2-current", None, "Jeweller", "completed"),
    ("t13", at("2025-03-05 09:00"), "salary", "1000.00", None, "acc-c1", "Acme Corp", "completed"),
    ("t14", at("2025-03-10 12:00"), "card_payment", "1200.00", "acc-c1", None, "Shop", "completed"),
    ("t15", at("2025-03-12 09:00"), "salary", "20000.00", None, "acc-c2-current", "Big Bank Ltd", "completed"),
    ("t16", at("2025-03-15 08:00"), "loan_payment", "300.00", "acc-c3", None, "FineFinance loans", "completed"),
    ("t17", at("2025-03-16 10:00"), "deposit", "35000.00", None, "acc-c4", "Notary", "completed"),
    # April
    ("t18", at("2025-04-03 07:00"), "subscription", "50.00", "acc-c1", None, "Streamio", "completed"),
    ("t19", at("2025-04-07 10:00"), "withdrawal", "6000.00", "acc-c2-current", None, "ATM", "completed"),
    ("t20", at("2025-04-10 10:00"), "transfer", "1000.00", "acc-c4", "acc-c5", None, "completed"),
    ("t21", at("2025-04-15 10:00"), "card_payment", "999.00", "acc-c1", None, "Shop", "pending"),
    ("t22", at("2025-04-16 10:00"), "withdrawal", "300.00", "acc-c1", None, "ATM", "failed"),
    ("t23", at("2025-04-20 10:00"), "card_payment", "200.00", "acc-c5", None, "Shop", "completed"),
    # May
    # made on 30 April, booked on 2 May: a May transaction (its booking month)
    ("t24", at("2025-04-30 18:00"), "salary", "100.00", None, "acc-c1", "Acme Corp", "completed"),
    ("t25", at("2025-05-05 10:00"), "withdrawal", "100.00", "acc-c2-current", None, "ATM", "completed"),
    ("t26", at("2025-05-06 10:00"), "transfer", "1000.00", "acc-c2-savings", "acc-c2-current", None, "completed"),
    ("t27", at("2025-05-08 10:00"), "reimbursement", "50.00", None, "acc-c3", "Insurer", "completed"),
    ("t28", at("2025-05-09 10:00"), "card_payment", "1000.00", "acc-c5", None, "Shop", "completed"),
    ("t29", at("2025-05-20 10:00"), "deposit", "700.00", None, "acc-c3", "Former bank", "pending"),
]


# completed transactions booked later than they were made (the others are booked at once)
BOOKED_LATER = {
    "t03": at("2025-01-21 10:00"),  # after t05 (made 01-20): January's lines follow booking order
    "t24": at("2025-05-02 09:00"),
}


def transaction_row(t, status=None, updated_at=None):
    transaction_id, when, category, amount, sender, receiver, counterparty, default_status = t
    status = status or default_status
    booked_at = BOOKED_LATER.get(transaction_id, when) if status == "completed" else None
    return {
        "transaction_id": transaction_id,
        "transaction_date": when,
        "category": category,
        "amount": Decimal(amount),
        "sender_account_id": sender,
        "receiver_account_id": receiver,
        "counterparty": counterparty,
        "description": f"{category} {transaction_id}",
        "status": status,
        "booked_at": booked_at if updated_at is None or booked_at is None else max(booked_at, updated_at),
        "created_at": when,
        "updated_at": updated_at or booked_at or when,
    }


def fill_raw(db) -> None:
    create_raw_tables(db)
    insert_raw(
        db,
        "advisor",
        [
            {
                "advisor_id": "a1",
                "firstname": "Alice",
                "surname": "Martin",
                "city": "Paris",
                "created_at": d("2020-01-01"),
            },
            {
                "advisor_id": "a2",
                "firstname": "Bruno",
                "surname": "Petit",
                "city": "Lyon",
                "created_at": d("2021-06-01"),
            },
        ],
    )
    insert_raw(
        db,
        "customer",
        [
            # (updated_at is when the source last changed the row; the snapshot dates versions by it)
            customer("c1", "Chloé", "Durand", "2025-01-05", "bronze", "a1", at("2025-01-05 10:00")),
            customer("c2", "Daniel", "Leroy", "2025-01-10", "gold", "a2", at("2025-01-10 10:00")),
            customer("c3", "Emma", "Moreau", "2025-02-03", "bronze", "a1", at("2025-02-03 10:00")),
            customer("c4", "Farid", "Benali", "2025-03-15", "diamant", "a1", at("2025-03-15 10:00")),
            # first seen after the data's months: earlier months count her earliest known profile
            customer("c5", "Gina", "Roux", "2025-04-02", "bronze", "a2", at("2025-06-01 10:00")),
        ],
    )
    insert_raw(
        db,
        "account",
        [
            {
                "account_id": account_id,
                "customer_id": customer_id,
                "account_type": account_type,
                "open_date": d(opened),
                "closed_date": d(closed) if closed else None,
            }
            for account_id, customer_id, account_type, opened, closed in ACCOUNTS
        ],
    )
    rows = [transaction_row(t) for t in TRANSACTIONS]
    by_id = {t[0]: t for t in TRANSACTIONS}
    # at least once: t19 arrives twice; t12 arrives pending, then completed (a later version)
    rows.append(transaction_row(by_id["t19"]))
    rows = [r for r in rows if r["transaction_id"] != "t12"]
    rows.append(transaction_row(by_id["t12"], status="pending", updated_at=at("2025-03-03 10:00")))
    rows.append(transaction_row(by_id["t12"], status="completed", updated_at=at("2025-03-05 08:00")))
    insert_raw(db, "transaction", rows)
    insert_raw(
        db,
        "balance",
        [
            {"account_id": "acc-c1", "balance_date": d("2025-01-31"), "balance": Decimal("200.00")},
            {"account_id": "acc-c1", "balance_date": d("2025-02-28"), "balance": Decimal("-100.00")},
        ],
    )
    insert_raw(
        db,
        "loan",
        [
            loan("l1", "c3", "60000.00", "0.04500", "2025-02-10", None, "active"),
            loan("l2", "c5", "10000.00", "0.06000", "2025-04-05", "2025-12-31", "active"),
            loan("l3", "c2", "50000.00", "0.03700", "2024-06-01", "2025-01-31", "closed"),
        ],
    )
    insert_raw(
        db,
        "investment",
        [
            investment("i1", "c4", "PEA", "30000.00", "2025-03-20", "2025-05-10", "closed"),
            investment("i2", "c2", "life insurance", "10000.00", "2025-01-15", None, "active"),
        ],
    )
    insert_raw(
        db,
        "credit_card",
        [
            card("k1", "c3", "9.90", "2025-03-01", "2025-04-30", "expired"),
            card("k2", "c1", "2.50", "2025-01-05", None, "active"),
            card("k3", "c2", "15.00", "2025-01-10", None, "active"),
        ],
    )


def customer(customer_id, firstname, surname, signup, level, advisor_id, updated_at):
    return {
        "customer_id": customer_id,
        "firstname": firstname,
        "surname": surname,
        "email": f"{customer_id}@example.com",
        "signup_date": d(signup),
        "profile_level": level,
        "advisor_id": advisor_id,
        "updated_at": updated_at,
    }


def loan(loan_id, customer_id, amount, rate, start, end, status):
    return {
        "loan_id": loan_id,
        "customer_id": customer_id,
        "amount": Decimal(amount),
        "interest_rate": Decimal(rate),
        "start_date": d(start),
        "end_date": d(end) if end else None,
        "status": status,
    }


def investment(investment_id, customer_id, name, amount, opened, closed, status):
    return {
        "investment_id": investment_id,
        "customer_id": customer_id,
        "product_name": name,
        "amount": Decimal(amount),
        "opened_at": d(opened),
        "closed_at": d(closed) if closed else None,
        "status": status,
    }


def card(card_id, customer_id, fee, start, end, status):
    return {
        "card_id": card_id,
        "customer_id": customer_id,
        "amount_limit": Decimal("2000.00"),
        "fee": Decimal(fee),
        "start_date": d(start),
        "end_date": d(end) if end else None,
        "status": status,
    }


# new versions of two customers, ingested after the first snapshot (appended: at least once)
UPGRADE_PROFILES_SQL = """
insert into raw.customer
    (customer_id, firstname, surname, email, signup_date, profile_level, advisor_id, updated_at,
     _dlt_load_id, _dlt_id)
values
    ('c3', 'Emma', 'Moreau', 'c3@example.com', date '2025-02-03', 'gold', 'a1',
     timestamptz '2025-03-20 09:00:00+00', 'upgrade', 'upgrade-0'),
    ('c5', 'Gina', 'Roux', 'c5@example.com', date '2025-04-02', 'gold', 'a2',
     timestamptz '2025-07-01 09:00:00+00', 'upgrade', 'upgrade-1')
"""


# -- the builds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    """Warehouses built from the same raw data in different ways; returns their paths by name.

    - monthly: January, then February ... May, one month per run (the partitions in order);
    - range: January and February alone, then March–May in one run (carrying February's state),
      then April re-run alone;
    - first_range: March–May in one run as the very first month-grain build (no earlier month
      in the marts: every state is recomputed from the history);
    - full: one build without the month vars;
    - emptied: monthly, then every May transaction is reversed at the source (a new version, no
      longer completed, reaches raw), staging is refreshed and May is re-run.
    """
    root = tmp_path_factory.mktemp("marts_fixture")
    dbs = {
        name: root / name / "fixture.duckdb" for name in ("base", "monthly", "range", "first_range", "full", "emptied")
    }
    dbs["base"].parent.mkdir()
    fill_raw(dbs["base"])

    # every warehouse's first run builds everything (staging, second snapshot, dimensions)
    everything = ("build", "--exclude-resource-type", "unit_test")
    monthly_only = ("build", "--select", MONTHLY, "--exclude-resource-type", "unit_test")
    steps = [
        # seeds, staging, the first snapshot of the customers, dimensions
        DbtStep(dbs["base"], ("build", "--exclude", MONTHLY)),
        SqlStep(dbs["base"], UPGRADE_PROFILES_SQL),
        *[CopyStep(dbs["base"], dbs[name]) for name in ("monthly", "range", "first_range", "full")],
        # with the unit tests of the money logic (statements, withdrawals, revenue)
        DbtStep(dbs["monthly"], ("build",), month_vars(MONTHS[0])),
        *[DbtStep(dbs["monthly"], monthly_only, month_vars(month)) for month in MONTHS[1:]],
        DbtStep(dbs["range"], everything, month_vars("2025-01-01")),
        DbtStep(dbs["range"], monthly_only, month_vars("2025-02-01")),
        DbtStep(dbs["range"], monthly_only, month_vars("2025-03-01", "2025-06-01")),
        DbtStep(dbs["range"], monthly_only, month_vars("2025-04-01")),
        DbtStep(dbs["first_range"], everything, month_vars("2025-03-01", "2025-06-01")),
        DbtStep(dbs["full"], everything),
        CopyStep(dbs["monthly"], dbs["emptied"]),
        # every May transaction is reversed at the source: its new version reaches raw (staging is
        # incremental on updated_at; the source never deletes a transaction)
        SqlStep(
            dbs["emptied"],
            "update raw.transaction set status = 'failed', booked_at = null, updated_at = now() "
            "where booked_at >= '2025-05-01'",
        ),
        # as the platform does after an ingestion: the daily refresh (staging), then the month
        DbtStep(dbs["emptied"], ("build", "--exclude", MONTHLY, "--exclude-resource-type", "unit_test")),
        DbtStep(dbs["emptied"], monthly_only, month_vars("2025-05-01")),
    ]
    run_dbt_steps(steps, root / "dbt")
    return dbs


def marts(db, first_month: str = "0001-01-01") -> dict[str, list[dict]]:
    return {
        name: read_rows(db, f"select * from marts.{name} where month_start >= ? order by {order}", [d(first_month)])
        for name, order in MONTHLY_MARTS.items()
    }


def by_key(rows, *columns):
    return {tuple(str(row[column]) for column in columns): row for row in rows}


# -- numbers computed by hand ---------------------------------------------------------------------

# (opening, credits, debits, closing, lines) per month and account
EXPECTED_STATEMENTS = {
    "2025-01-01": {
        "acc-c1": ("0", "1000", "800", "200", 2),  # +1000 t01, -800 t04
        "acc-c2-current": ("0", "20000", "7000", "13000", 3),  # +20000 t02, -6000 t03, -1000 t05
        "acc-c2-savings": ("0", "6000", "0", "6000", 1),  # +6000 t03 (own transfer)
        "acc-c2-young": ("0", "0", "0", "0", 0),  # open, no transactions
    },
    "2025-02-01": {
        "acc-c1": ("200", "200", "500", "-100", 2),  # -500 t08, +200 t09 from C2
        "acc-c2-current": ("13000", "0", "5200", "7800", 2),  # -5000 t06, -200 t09
        "acc-c2-savings": ("6000", "0", "0", "6000", 0),
        "acc-c2-young": ("0", "0", "0", "0", 0),  # closed 2025-02-15: still open during February
        "acc-c3": ("0", "500", "100", "400", 2),  # +500 t07, -100 t10 (Feb 28 22:30 UTC)
    },
    "2025-03-01": {
        "acc-c1": ("-100", "1000", "1200", "-300", 2),
        "acc-c2-current": ("7800", "20000", "5500", "22300", 3),  # -3000 t11, -2500 t12, +20000 t15
        "acc-c2-savings": ("6000", "0", "0", "6000", 0),
        "acc-c3": ("400", "0", "300", "100", 1),
        "acc-c4": ("0", "35000", "0", "35000", 1),
    },
    "2025-04-01": {
        "acc-c1": ("-300", "0", "50", "-350", 1),  # pending t21 and failed t22 move nothing
        "acc-c2-current": ("22300", "0", "6000", "16300", 1),  # t19 ingested twice, counted once
        "acc-c2-savings": ("6000", "0", "0", "6000", 0),
        "acc-c3": ("100", "0", "0", "100", 0),  # no transactions: opening = closing
        "acc-c4": ("35000", "0", "1000", "34000", 1),  # -1000 t20 to C5
        "acc-c5": ("0", "1000", "200", "800", 2),
    },
    "2025-05-01": {
        "acc-c1": ("-350", "100", "0", "-250", 1),
        "acc-c2-current": ("16300", "1000", "100", "17200", 2),  # +1000 t26 from savings, -100 t25
        "acc-c2-savings": ("6000", "0", "1000", "5000", 1),
        "acc-c3": ("100", "50", "0", "150", 1),
        "acc-c4": ("34000", "0", "0", "34000", 0),
        "acc-c5": ("800", "0", "1000", "-200", 1),
    },
}

# (month-end balance, withdrawals, loans outstanding, investments held,
#  months in red, high withdrawals / loans / investments months) per month and customer
EXPECTED_CUSTOMER_MONTHS = {
    "2025-01-01": {
        "c1": ("200", "800", "0", "0", 0, 0, 0, 0),
        # 13000 + 6000; withdrawals 1000 (t05): the 6000 to his own savings is not one;
        # loan l3 (50,000, ends Jan 31) is active in January only: high (>= 50,000) for 1 month
        "c2": ("19000", "1000", "50000", "10000", 0, 0, 1, 0),
    },
    "2025-02-01": {
        "c1": ("-100", "500", "0", "0", 1, 0, 0, 0),
        "c2": ("13800", "5200", "0", "10000", 0, 1, 0, 0),  # 5000 + 200 to C1 >= 5,000
        "c3": ("400", "100", "60000", "0", 0, 0, 1, 0),  # loan l1 from Feb 10
    },
    "2025-03-01": {
        "c1": ("-300", "1200", "0", "0", 2, 0, 0, 0),
        "c2": ("28300", "5500", "0", "10000", 0, 2, 0, 0),
        "c3": ("100", "300", "60000", "0", 0, 0, 2, 0),
        "c4": ("35000", "0", "0", "30000", 0, 0, 0, 1),  # PEA from Mar 20
    },
    "2025-04-01": {
        "c1": ("-350", "50", "0", "0", 3, 0, 0, 0),
        "c2": ("22300", "6000", "0", "10000", 0, 3, 0, 0),
        "c3": ("100", "0", "60000", "0", 0, 0, 3, 0),
        "c4": ("34000", "1000", "0", "30000", 0, 0, 0, 2),
        "c5": ("800", "200", "10000", "0", 0, 0, 0, 0),
    },
    "2025-05-01": {
        "c1": ("-250", "0", "0", "0", 4, 0, 0, 0),  # the streak is not capped at 3
        "c2": ("22200", "100", "0", "10000", 0, 0, 0, 0),  # 17200 + 5000; t26 is his own transfer
        "c3": ("150", "0", "60000", "0", 0, 0, 4, 0),
        "c4": ("34000", "0", "0", "30000", 0, 0, 0, 3),  # closed May 10: still held in May
        "c5": ("-200", "1000", "10000", "0", 1, 0, 0, 0),
    },
}

# revenue = interest (sum of amount * rate / 12, rounded to 4 decimals) + card fees
#   Dec 2024 (the month before): l3 50000 * 0.037 / 12 = 154.1667; no card yet -> 154.1667
#   Jan: l3 154.1667 + cards k2 2.50 + k3 15.00                      = 171.6667
#   Feb: l1 60000 * 0.045 / 12 = 225 (l3 ended Jan 31) + 17.50          = 242.5000
#   Mar: 225 + k1 9.90 + 17.50 = 27.40                                  = 252.4000
#   Apr: 225 + l2 10000 * 0.06 / 12 = 50 -> 275 + 27.40                  = 302.4000
#   May: 275 + 17.50 (k1 ended Apr 30)                                   = 292.5000
# growth = 100 * (this - previous) / previous, 4 decimals:
#   Jan 100 * 17.5 / 154.1667 = 11.3513; Feb 100 * 70.8333 / 171.6667 = 41.2621;
#   Mar 100 * 9.9 / 242.5 = 4.0825; Apr 100 * 50 / 252.4 = 19.8098; May 100 * -9.9 / 302.4 = -3.2738
# transactions (completed, each once): Jan 5 (28800), Feb 5 (6300), Mar 7 (63000), Apr 4 (7250),
#   May 5 (2250); growth: Jan NULL (December had none), Feb 0, Mar 40, Apr 100 * -3 / 7 = -42.8571, May 25
# new customers: Jan 2, Feb 1, Mar 1, Apr 1, May 0; growth Jan NULL, Feb -50, Mar 0, Apr 0, May -100
EXPECTED_KPIS = {
    # month: (revenue, interest, card fees, count, amount, new, revenue %, count %, new %)
    "2025-01-01": ("171.6667", "154.1667", "17.50", 5, "28800", 2, "11.3513", None, None),
    "2025-02-01": ("242.5", "225", "17.50", 5, "6300", 1, "41.2621", "0", "-50"),
    "2025-03-01": ("252.4", "225", "27.40", 7, "63000", 1, "4.0825", "40", "0"),
    "2025-04-01": ("302.4", "275", "27.40", 4, "7250", 1, "19.8098", "-42.8571", "0"),
    "2025-05-01": ("292.5", "275", "17.50", 5, "2250", 0, "-3.2738", "25", "-100"),
}

# (count, amount) of the categories that had transactions; the others are listed with zeros
EXPECTED_TRANSACTIONS_PER_CATEGORY = {
    "2025-01-01": {
        "salary": (2, "21000"),
        "transfer": (1, "6000"),
        "card_payment": (1, "800"),
        "withdrawal": (1, "1000"),
    },
    "2025-02-01": {
        "withdrawal": (1, "5000"),
        "deposit": (1, "500"),
        "card_payment": (2, "600"),
        "transfer": (1, "200"),
    },
    "2025-03-01": {
        "withdrawal": (1, "3000"),
        "card_payment": (2, "3700"),
        "salary": (2, "21000"),
        "loan_payment": (1, "300"),
        "deposit": (1, "35000"),
    },
    "2025-04-01": {
        "subscription": (1, "50"),
        "withdrawal": (1, "6000"),
        "transfer": (1, "1000"),
        "card_payment": (1, "200"),
    },
    "2025-05-01": {
        "salary": (1, "100"),
        "withdrawal": (1, "100"),
        "transfer": (1, "1000"),
        "reimbursement": (1, "50"),
        "card_payment": (1, "1000"),
    },
}

# profile held at each month's end by the customers signed up by then: C3 becomes Gold on Mar 20;
# C5's first snapshot row is dated June, so April and May count her earliest known profile
# (Bronze), not her current one (Gold since July)
EXPECTED_PROFILES = {
    "2025-01-01": {"Bronze": 1, "Gold": 1, "Diamond": 0},  # C1; C2
    "2025-02-01": {"Bronze": 2, "Gold": 1, "Diamond": 0},  # C1, C3; C2
    "2025-03-01": {"Bronze": 1, "Gold": 2, "Diamond": 1},  # C1; C2, C3; C4
    "2025-04-01": {"Bronze": 2, "Gold": 2, "Diamond": 1},  # C1, C5; C2, C3; C4
    "2025-05-01": {"Bronze": 2, "Gold": 2, "Diamond": 1},
}


# -- the checks -------------------------------------------------------------------------------


def test_monthly_statements(warehouses):
    rows = table_rows(warehouses["monthly"], "marts.fct_monthly_statement", "month_start, account_id")
    got = {
        (str(row["month_start"]), row["account_id"]): (
            row["opening_balance"],
            row["total_credits"],
            row["total_debits"],
            row["closing_balance"],
            row["transaction_count"],
        )
        for row in rows
    }
    expected = {
        (month, account): (money(o), money(c), money(db), money(cl), n)
        for month, accounts in EXPECTED_STATEMENTS.items()
        for account, (o, c, db, cl, n) in accounts.items()
    }
    assert got == expected
    assert {row["customer_id"] for row in rows if row["account_id"].startswith("acc-c2")} == {"c2"}


def test_statement_lines_run_to_the_closing_balance(warehouses):
    lines = table_rows(warehouses["monthly"], "marts.fct_statement_line", "month_start, account_id, line_number")
    # 26 completed transactions, 4 of them between two of our accounts (t03, t09, t20, t26)
    assert len(lines) == 30
    assert {row["transaction_id"] for row in lines}.isdisjoint({"t21", "t22", "t29"})

    def statement(account, month):
        return [
            (row["transaction_id"], row["direction"], row["amount"], row["running_balance"])
            for row in lines
            if row["account_id"] == account and str(row["month_start"]) == month
        ]

    # in booking order: t03, made before t05, was booked after it
    assert statement("acc-c2-current", "2025-01-01") == [
        ("t02", "credit", money(20000), money(20000)),
        ("t05", "debit", money(1000), money(19000)),
        ("t03", "debit", money(6000), money(13000)),
    ]
    assert statement("acc-c2-savings", "2025-01-01") == [("t03", "credit", money(6000), money(6000))]
    # opening 200, then -500 and +200 from C2
    assert statement("acc-c1", "2025-02-01") == [
        ("t08", "debit", money(500), money(-300)),
        ("t09", "credit", money(200), money(-100)),
    ]
    assert statement("acc-c3", "2025-02-01") == [
        ("t07", "credit", money(500), money(500)),
        ("t10", "debit", money(100), money(400)),
    ]
    t10 = next(row for row in lines if row["transaction_id"] == "t10")
    assert t10["transaction_date"] == t10["booked_at"] == dt.datetime(2025, 2, 28, 22, 30)
    # made in April, booked in May: on May's statement only, with both dates
    t24 = [(str(row["month_start"]), row["transaction_date"], row["booked_at"]) for row in lines
           if row["transaction_id"] == "t24"]  # fmt: skip
    assert t24 == [("2025-05-01", dt.datetime(2025, 4, 30, 18), dt.datetime(2025, 5, 2, 9))]
    t09_lines = {row["account_id"]: row for row in lines if row["transaction_id"] == "t09"}
    assert t09_lines["acc-c2-current"]["counterparty_account_id"] == "acc-c1"
    assert t09_lines["acc-c1"]["counterparty_account_id"] == "acc-c2-current"


def test_customer_months_balances_withdrawals_and_streaks(warehouses):
    rows = table_rows(warehouses["monthly"], "marts.fct_customer_month", "month_start, customer_id")
    got = {
        (str(row["month_start"]), row["customer_id"]): (
            row["month_end_balance"],
            row["withdrawals"],
            row["loans_outstanding"],
            row["investments_held"],
            row["months_in_red"],
            row["high_withdrawals_months"],
            row["high_loans_months"],
            row["high_investments_months"],
        )
        for row in rows
    }
    expected = {
        (month, customer): (money(b), money(w), money(loans), money(inv), red, hw, hl, hi)
        for month, customers in EXPECTED_CUSTOMER_MONTHS.items()
        for customer, (b, w, loans, inv, red, hw, hl, hi) in customers.items()
    }
    # one row per customer signed up by the month's end: C3 from February, C4 March, C5 April
    assert got == expected
    # month-end balance = sum of the closing balances of the customer's accounts
    c2_may = by_key(rows, "month_start", "customer_id")[("2025-05-01", "c2")]
    assert c2_may["month_end_balance"] == money(17200) + money(5000)
    assert (c2_may["total_credits"], c2_may["total_debits"]) == (money(1000), money(1100))


def test_advisor_lists(warehouses):
    budget = table_rows(warehouses["monthly"], "marts.advisor_budget_support", "month_start, customer_id")
    # C1 is in the red from February: listed from April (3 months), May (4 months)
    assert [
        (str(row["month_start"]), row["customer_id"], row["advisor_id"], row["month_end_balance"], row["months_in_red"])
        for row in budget
    ] == [("2025-04-01", "c1", "a1", money(-350), 3), ("2025-05-01", "c1", "a1", money(-250), 4)]

    upgrades = table_rows(warehouses["monthly"], "marts.advisor_upgrade_candidates", "month_start, customer_id")
    assert [
        (
            str(row["month_start"]),
            row["customer_id"],
            row["advisor_id"],
            row["high_withdrawals_months"],
            row["high_loans_months"],
            row["high_investments_months"],
        )
        for row in upgrades
    ] == [
        ("2025-04-01", "c2", "a2", 3, 0, 0),  # withdrawals Feb, Mar, Apr (not March: January's was 1,000)
        ("2025-04-01", "c3", "a1", 0, 3, 0),  # loan Feb, Mar, Apr
        ("2025-05-01", "c3", "a1", 0, 4, 0),
        ("2025-05-01", "c4", "a1", 0, 0, 3),  # PEA Mar, Apr, May
    ]


def test_kpis(warehouses):
    growth = table_rows(warehouses["monthly"], "marts.kpi_monthly_growth", "month_start")

    def pct(value):
        return None if value is None else Decimal(value).quantize(Decimal("0.0001"))

    assert {
        str(row["month_start"]): (
            row["revenue"],
            row["interest_income"],
            row["card_fee_income"],
            row["transaction_count"],
            row["transaction_amount"],
            row["new_customers"],
            row["revenue_growth_pct"],
            row["transaction_count_growth_pct"],
            row["new_customers_growth_pct"],
        )
        for row in growth
    } == {
        month: (pct(rev), pct(interest), money(fees), count, money(amount), new, pct(g_rev), pct(g_count), pct(g_new))
        for month, (rev, interest, fees, count, amount, new, g_rev, g_count, g_new) in EXPECTED_KPIS.items()
    }

    per_category = table_rows(warehouses["monthly"], "marts.kpi_transactions_per_month", "month_start, category")
    assert len(per_category) == 5 * 8  # every category, every month
    assert {
        (str(row["month_start"]), row["category"]): (row["transaction_count"], row["transaction_amount"])
        for row in per_category
        if row["transaction_count"]
    } == {
        (month, category): (count, money(amount))
        for month, categories in EXPECTED_TRANSACTIONS_PER_CATEGORY.items()
        for category, (count, amount) in categories.items()
    }

    profiles = table_rows(warehouses["monthly"], "marts.kpi_customers_per_profile", "month_start, profile_rank")
    assert {(str(row["month_start"]), row["profile"]): row["customer_count"] for row in profiles} == {
        (month, profile): count for month, counts in EXPECTED_PROFILES.items() for profile, count in counts.items()
    }


def test_dimensions(warehouses):
    db = warehouses["monthly"]
    customers = by_key(table_rows(db, "marts.dim_customer", "customer_id"), "customer_id")
    assert {key[0]: row["profile"] for key, row in customers.items()} == {
        "c1": "Bronze",
        "c2": "Gold",
        "c3": "Gold",
        "c4": "Diamond",  # the source's `diamant`
        "c5": "Gold",
    }
    days = read_rows(db, "select min(date_day) as first, max(date_day) as last, count(*) as n from marts.dim_date")
    assert days == [{"first": d("2025-01-01"), "last": d("2025-05-31"), "n": 151}]
    products = read_rows(db, "select product_type, count(*) as n from marts.dim_product group by 1 order by 1")
    assert products == [
        {"product_type": "credit_card", "n": 3},
        {"product_type": "investment", "n": 2},
        {"product_type": "loan", "n": 3},
    ]
    history = read_rows(
        db, "select customer_id, profile from snapshots.snp_customer where customer_id = 'c3' order by dbt_valid_from"
    )
    assert history == [{"customer_id": "c3", "profile": "Bronze"}, {"customer_id": "c3", "profile": "Gold"}]


def test_same_marts_whichever_way_the_months_are_built(warehouses):
    monthly = marts(warehouses["monthly"])
    # a range in one run after single months, then a month re-run alone
    assert marts(warehouses["range"]) == monthly
    # a full build without the month vars
    assert marts(warehouses["full"]) == monthly
    # a range as the very first build: the earlier months' state is recomputed from the history
    first_range = marts(warehouses["first_range"])
    # except the value marts', which count the months the warehouse holds (contribution_12m, the
    # month before for a migration: docs/business-definitions.md#customer-value), and it holds none before March
    # (the risk score's months observed and the value actions' month before likewise)
    value_marts = ("fct_customer_value", "value_tier_migrations", "customer_risk_score", "advisor_value_actions")
    without_value = {name: rows for name, rows in first_range.items() if name not in value_marts}
    assert without_value == {
        name: rows for name, rows in marts(warehouses["monthly"], "2025-03-01").items() if name not in value_marts
    }
    assert all(first_range.values())


def test_a_month_that_became_empty_ends_with_no_rows(warehouses):
    """Re-running a month writes exactly its window: rows of other months stay as they were."""
    before = marts(warehouses["monthly"])
    after = marts(warehouses["emptied"])
    for name in MONTHLY_MARTS:
        assert [row for row in after[name] if str(row["month_start"]) != "2025-05-01"] == [
            row for row in before[name] if str(row["month_start"]) != "2025-05-01"
        ], name
    for name in ("fct_transaction", "fct_statement_line"):
        assert [row for row in after[name] if str(row["month_start"]) == "2025-05-01"] == []
    may_statements = [row for row in after["fct_monthly_statement"] if str(row["month_start"]) == "2025-05-01"]
    assert len(may_statements) == 6  # the accounts are still open: opening = closing
    assert all(row["opening_balance"] == row["closing_balance"] for row in may_statements)
