"""The marts of docs/business-definitions.md computed independently, in plain Python, from a bank's rows.

Written from the business definitions, not from the dbt SQL, so a test comparing the two catches a
wrong model as well as a wrong expectation. It is the suite's only such computation, with two uses:

- the delivery tests' hand-made banks (`delivery_fixtures.small_bank`, `bulk_bank`), whose marts
  `delivery_fixtures.write_marts` writes to DuckDB in place of dbt's;
- the source database itself (`bank_from_source`): `tests/integration/test_marts_independent.py`
  compares its marts with the ones the real pipeline builds at scale XS.

`compute_marts(bank)` gives the rows of `bank.months`, the window of months the marts hold (the
Dagster partitions), and computes them from all of the bank's history up to the window's end, as a
full dbt build does: balances and streaks start from the data's first month (a hand-made bank's
data starts in its first month; the simulated source has customers and accounts from years before
the first partition, and loans whose streaks run from then), the month before the window gives its
first month's growth rates, and bookings after the window's last month are in none of its months.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg2
import psycopg2.extras

D = Decimal
PROFILE_LABELS = {"bronze": "Bronze", "gold": "Gold", "diamant": "Diamond"}
# docs/business-definitions.md#high-thresholds (the dbt vars' defaults)
HIGH_WITHDRAWALS, HIGH_LOANS, HIGH_INVESTMENTS, STREAK_MONTHS = D("5000"), D("50000"), D("25000"), 3


@dataclass
class Bank:
    """A bank's rows, one dict per row, with the source's columns under the warehouse's names.

    - advisors: advisor_id, firstname, surname, city
    - customers: customer_id, firstname, surname, signup_date, profile (Bronze/Gold/Diamond), advisor_id
    - accounts: account_id, customer_id, account_type, currency, open_date; closed_date (optional, NULL: open)
    - transactions: transaction_id, transaction_date, booked_at (aware, NULL unless completed),
      sender_account_id, receiver_account_id, amount, description, category, status
    - loans: product_id, customer_id, amount, interest_rate, start_date, end_date
    - investments: product_id, customer_id, amount, product_name, start_date, end_date (opened_at/closed_at)
    - cards: product_id, customer_id, amount (the limit), fee, start_date, end_date
    - customer_versions (optional): the history of customers' profile, advisor and names: customer_id,
      valid_from (NULL: since always), valid_to (NULL: still current), profile, advisor_id, firstname,
      surname. A customer without versions held their `customers` row at every month's end.

    `months`: the window, consecutive months, oldest first.
    """

    months: list[dt.date]
    advisors: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    accounts: list[dict] = field(default_factory=list)
    transactions: list[dict] = field(default_factory=list)
    loans: list[dict] = field(default_factory=list)
    investments: list[dict] = field(default_factory=list)
    cards: list[dict] = field(default_factory=list)
    customer_versions: list[dict] = field(default_factory=list)


SOURCE_QUERIES = {
    "advisors": "select advisor_id::text, firstname, surname, city from crm.advisor",
    "customers": "select customer_id::text, firstname, surname, signup_date, profile_level, advisor_id::text "
    "from crm.customer",
    "accounts": "select account_id::text, customer_id::text, account_type, currency, open_date, closed_date "
    "from banking.account",
    # every status: compute_marts keeps the completed ones
    "transactions": "select transaction_id::text, transaction_date, booked_at, sender_account_id::text, "
    "receiver_account_id::text, amount, description, category, status from banking.transaction",
    "loans": "select loan_id::text as product_id, customer_id::text, amount, interest_rate, start_date, end_date "
    "from product.loan",
    "investments": "select investment_id::text as product_id, customer_id::text, amount, product_name, "
    "opened_at as start_date, closed_at as end_date from product.investment",
    "cards": "select card_id::text as product_id, customer_id::text, amount_limit as amount, fee, start_date, "
    "end_date from product.credit_card",
}


def bank_from_source(dsn: str, months: list[dt.date]) -> Bank:
    """The source database's rows (every row, every status) as a `Bank` whose window is `months`."""
    bank = Bank(months)
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        for name, sql in SOURCE_QUERIES.items():
            cur.execute(sql)
            setattr(bank, name, [dict(row) for row in cur.fetchall()])
    for customer in bank.customers:
        customer["profile"] = PROFILE_LABELS[customer.pop("profile_level")]
    return bank


def versions_from_snapshot(warehouse) -> list[dict]:
    """`Bank.customer_versions` from a warehouse's customer snapshot, the only record of what a
    customer was in the past (the source keeps the current row). The first version of each customer
    also covers everything before it (docs/business-definitions.md#customers-as-at-month-end)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            "select customer_id, profile, advisor_id, firstname, surname, dbt_valid_from, dbt_valid_to "
            "from snapshots.snp_customer order by customer_id, dbt_valid_from"
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    versions, seen = [], set()
    for row in rows:
        first = row["customer_id"] not in seen
        seen.add(row["customer_id"])
        valid_from, valid_to = row.pop("dbt_valid_from"), row.pop("dbt_valid_to")
        versions.append({**row, "valid_from": None if first else valid_from, "valid_to": valid_to})
    return versions


# -- the marts, from docs/business-definitions.md ---------------------------------------------------


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return next_month(month) - dt.timedelta(days=1)


def _active(start: dt.date | None, end: dt.date | None, month: dt.date) -> bool:
    """docs/business-definitions.md#active-in-a-month: started by the month's last day, not ended before its first."""
    return start <= month_end(month) and (end is None or end >= month)


def _active_product(product: dict, month: dt.date) -> bool:
    return _active(product["start_date"], product["end_date"], month)


def _at_month_end(customer: dict, versions: list[dict], month: dt.date) -> dict:
    """The customer as at `month`'s end (docs/business-definitions.md#customers-as-at-month-end): the
    version in force at the last instant of the month, else (a customer the history has not seen)
    their current row. Versions are dated in UTC, without a time zone, as the warehouse holds them."""
    end = dt.datetime.combine(next_month(month), dt.time())
    for version in versions:
        if (version["valid_from"] is None or version["valid_from"] < end) and (
            version["valid_to"] is None or version["valid_to"] >= end
        ):
            return version
    return customer


def _streak(flags: list[bool]) -> list[int]:
    out, run = [], 0
    for flag in flags:
        run = run + 1 if flag else 0
        out.append(run)
    return out


def booking_month(t: dict) -> dt.date:
    """A completed transaction's month: the calendar month (UTC) of its booking
    (docs/business-definitions.md#booking-month)."""
    return t["booked_at"].astimezone(dt.UTC).date().replace(day=1)


def _by_customer(rows: list[dict]) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for row in rows:
        out[row["customer_id"]].append(row)
    return out


def compute_marts(bank: Bank) -> dict[str, list[dict]]:
    """Every `marts.*` table of the warehouse contract, for the months of `bank.months`."""
    window = bank.months
    last = window[-1]
    in_window = set(window)
    owner = {a["account_id"]: a["customer_id"] for a in bank.accounts}
    # Only completed transactions move money, in their booking month; a booking after the window's
    # last month is in none of its months (the source may hold the open month's bookings).
    # Booking order: the running balances accumulate as the bank books.
    completed = sorted(
        ((t, month) for t in bank.transactions if t["status"] == "completed" and (month := booking_month(t)) <= last),
        key=lambda pair: (pair[0]["booked_at"], pair[0]["transaction_id"]),
    )
    # the months computed: from the data's first month (an account opened, a customer signed up, a
    # transaction booked), as dbt's full build, so that history before the window counts
    first = min(
        [
            window[0],
            *(a["open_date"].replace(day=1) for a in bank.accounts),
            *(c["signup_date"].replace(day=1) for c in bank.customers),
            *(month for _, month in completed),
        ]
    )
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    assert months[-len(window) :] == window, f"the window must be consecutive months: {window}"

    fct_transaction = [
        {
            **{
                k: t[k]
                for k in (
                    "transaction_id",
                    "transaction_date",
                    "booked_at",
                    "amount",
                    "category",
                    "sender_account_id",
                    "receiver_account_id",
                )
            },
            "month_start": m,
        }
        for t, m in completed
        if m in in_window
    ]

    balance = defaultdict(lambda: D("0.00"))
    lines, per_account_month = [], defaultdict(lambda: {"credits": D("0.00"), "debits": D("0.00"), "count": 0})
    no_flows = {"credits": D("0.00"), "debits": D("0.00"), "count": 0}
    for t, m in completed:
        for account_id, direction in ((t["receiver_account_id"], "credit"), (t["sender_account_id"], "debit")):
            if account_id is None:
                continue
            sign = 1 if direction == "credit" else -1
            balance[account_id] += sign * t["amount"]
            if m in in_window:
                lines.append(
                    {
                        "account_id": account_id,
                        "month_start": m,
                        "transaction_id": t["transaction_id"],
                        "transaction_date": t["transaction_date"],
                        "booked_at": t["booked_at"],
                        "description": t["description"],
                        "category": t["category"],
                        "direction": direction,
                        "amount": t["amount"],
                        "running_balance": balance[account_id],
                    }
                )
            agg = per_account_month[(account_id, m)]
            agg["credits" if direction == "credit" else "debits"] += t["amount"]
            agg["count"] += 1

    # docs/business-definitions.md#opening-and-closing-balance: a statement for every account open
    # during the month (a closed account's closed_date ends it; a hand-made account has none), and
    # for any account with transactions or a non-zero opening balance in the month
    statements, closing = [], {}  # closing: (account, month) -> closing balance, every computed month
    for account in bank.accounts:
        opening = D("0.00")
        for m in months:
            agg = per_account_month.get((account["account_id"], m), no_flows)
            close = opening + agg["credits"] - agg["debits"]
            closing[(account["account_id"], m)] = close
            open_in_month = _active(account["open_date"], account.get("closed_date"), m)
            if m in in_window and (open_in_month or agg["count"] or opening):
                statements.append(
                    {
                        "account_id": account["account_id"],
                        "customer_id": account["customer_id"],
                        "month_start": m,
                        "opening_balance": opening,
                        "total_credits": agg["credits"],
                        "total_debits": agg["debits"],
                        "closing_balance": close,
                        "transaction_count": agg["count"],
                    }
                )
            opening = close

    # withdrawals: debits except transfers between two accounts of the same customer
    withdrawals = defaultdict(lambda: D("0.00"))
    for t, m in completed:
        sender, receiver = t["sender_account_id"], t["receiver_account_id"]
        if sender is None or (receiver is not None and owner[receiver] == owner[sender]):
            continue
        withdrawals[(owner[sender], m)] += t["amount"]

    # docs/business-definitions.md#month-end-balance-of-a-customer: a row for every customer signed
    # up by the month's last day, their month-end balance over all their accounts; the streaks run
    # over those months only (months before the sign-up never count) and from the data's first month
    customer_months, upgrade, budget = [], [], []
    versions_of = _by_customer(bank.customer_versions)
    accounts_of = _by_customer(bank.accounts)
    loans_of, investments_of = _by_customer(bank.loans), _by_customer(bank.investments)
    for customer in bank.customers:
        cid = customer["customer_id"]
        rows = []
        for m in months:
            if customer["signup_date"] > month_end(m):
                continue
            # who they were at the month's end: advisor, profile, names
            held = _at_month_end(customer, versions_of[cid], m)
            rows.append(
                {
                    "customer_id": cid,
                    "month_start": m,
                    "advisor_id": held["advisor_id"],
                    "month_end_balance": sum((closing[(a["account_id"], m)] for a in accounts_of[cid]), D("0.00")),
                    "withdrawals": withdrawals[(cid, m)],
                    "loans_outstanding": sum((p["amount"] for p in loans_of[cid] if _active_product(p, m)), D("0.00")),
                    "investments_held": sum(
                        (p["amount"] for p in investments_of[cid] if _active_product(p, m)), D("0.00")
                    ),
                }
            )
        red = _streak([r["month_end_balance"] < 0 for r in rows])
        high_w = _streak([r["withdrawals"] >= HIGH_WITHDRAWALS for r in rows])
        high_l = _streak([r["loans_outstanding"] >= HIGH_LOANS for r in rows])
        high_i = _streak([r["investments_held"] >= HIGH_INVESTMENTS for r in rows])
        for r, red_n, w, lo, inv in zip(rows, red, high_w, high_l, high_i, strict=True):
            if r["month_start"] not in in_window:
                continue
            customer_months.append(r)
            held = _at_month_end(customer, versions_of[cid], r["month_start"])
            listed = {k: held[k] for k in ("firstname", "surname", "profile")}
            if red_n >= STREAK_MONTHS:
                budget.append(
                    {
                        "month_start": r["month_start"],
                        "customer_id": cid,
                        "advisor_id": r["advisor_id"],
                        **listed,
                        "month_end_balance": r["month_end_balance"],
                        "months_in_red": red_n,
                    }
                )
            if max(w, lo, inv) >= STREAK_MONTHS:
                upgrade.append(
                    {
                        "month_start": r["month_start"],
                        "customer_id": cid,
                        "advisor_id": r["advisor_id"],
                        **listed,
                        "high_withdrawals_months": w,
                        "high_loans_months": lo,
                        "high_investments_months": inv,
                    }
                )

    # each transaction counted once (not once per side), in its booking month
    count_of, amount_of = Counter(), defaultdict(lambda: D("0.00"))
    per_month_category = defaultdict(lambda: [0, D("0.00")])
    for t, m in completed:
        count_of[m] += 1
        amount_of[m] += t["amount"]
        per_month_category[(m, t["category"])][0] += 1
        per_month_category[(m, t["category"])][1] += t["amount"]
    new_customers = Counter(c["signup_date"].replace(day=1) for c in bank.customers)

    # every computed month: the month before the window gives its first month's growth rates
    kpis, previous = [], None
    per_profile, per_category = [], []
    for m in months:
        # docs/business-definitions.md#revenue: the exact sum, divided by 12, rounded once to 4 decimals
        interest = sum((p["amount"] * p["interest_rate"] for p in bank.loans if _active_product(p, m)), D("0"))
        interest = (interest / 12).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
        fees = sum((p["fee"] for p in bank.cards if _active_product(p, m)), D("0.00"))
        row = {
            "month_start": m,
            "revenue": interest + fees,
            "interest_income": interest,
            "card_fee_income": fees,
            "transaction_count": count_of[m],
            "transaction_amount": amount_of[m],
            "new_customers": new_customers[m],
        }

        def growth(key, row=row, previous=previous):
            if previous is None or not previous[key]:
                return None
            return float(100 * (D(row[key]) - D(previous[key])) / D(previous[key]))

        row.update(
            revenue_growth_pct=growth("revenue"),
            transaction_count_growth_pct=growth("transaction_count"),
            new_customers_growth_pct=growth("new_customers"),
        )
        previous = row
        if m not in in_window:
            continue
        kpis.append(row)
        # the profile held at the month's end by each customer signed up by then
        profiles_held = Counter(
            _at_month_end(c, versions_of[c["customer_id"]], m)["profile"]
            for c in bank.customers
            if c["signup_date"] <= month_end(m)
        )
        for label in ("Bronze", "Gold", "Diamond"):
            count = profiles_held[label]
            per_profile.append({"month_start": m, "profile": label, "customer_count": count})
        # the categories that had transactions (dbt's mart also lists the others, with zeros)
        for category in sorted(c for month, c in per_month_category if month == m):
            count, amount = per_month_category[(m, category)]
            per_category.append(
                {"month_start": m, "category": category, "transaction_count": count, "transaction_amount": amount}
            )

    products = (
        [
            {
                "product_id": p["product_id"],
                "customer_id": p["customer_id"],
                "product_type": "loan",
                "amount": p["amount"],
                "start_date": p["start_date"],
                "end_date": p["end_date"],
            }
            for p in bank.loans
        ]
        + [
            {
                "product_id": p["product_id"],
                "customer_id": p["customer_id"],
                "product_type": "investment",
                "amount": p["amount"],
                "start_date": p["start_date"],
                "end_date": p["end_date"],
            }
            for p in bank.investments
        ]
        + [
            {
                "product_id": p["product_id"],
                "customer_id": p["customer_id"],
                "product_type": "credit_card",
                "amount": p["amount"],
                "start_date": p["start_date"],
                "end_date": p["end_date"],
            }
            for p in bank.cards
        ]
    )
    dates = []
    day = window[0]
    while day <= month_end(last):
        dates.append(
            {"date_day": day, "month_start": day.replace(day=1), "year": day.year, "month": day.month, "day": day.day}
        )
        day += dt.timedelta(days=1)

    return {
        "dim_customer": bank.customers,
        "dim_advisor": bank.advisors,
        "dim_account": bank.accounts,
        "dim_product": products,
        "dim_date": dates,
        "fct_transaction": fct_transaction,
        "fct_monthly_statement": statements,
        "fct_statement_line": lines,
        "fct_customer_month": customer_months,
        "advisor_upgrade_candidates": upgrade,
        "advisor_budget_support": budget,
        "kpi_monthly_growth": kpis,
        "kpi_customers_per_profile": per_profile,
        "kpi_transactions_per_month": per_category,
    }


# -- customer value (docs/business-definitions.md#customer-value) ---------------------------------

# the dbt vars' defaults (dbt_project.yml): annual rates as fractions, amounts in EUR
VALUE_DEFAULTS = {
    "value_funds_transfer_rate": D("0.02"),
    "value_current_account_rate": D("0"),
    "value_overdraft_rate": D("0.16"),
    "value_loan_funding_rate": D("0.025"),
    "value_card_interchange_rate": D("0.003"),
    "value_pea_fee_rate": D("0.004"),
    "value_life_insurance_fee_rate": D("0.0075"),
    "value_cost_per_account": D("2.5"),
    "value_cost_per_transaction": D("0.05"),
    "value_cost_per_withdrawal": D("0.5"),
    "value_tier_core_from": D("150"),
    "value_tier_high_from": D("400"),
    "value_tier_top_from": D("1500"),
}
REGULATED_RATES_SEED = Path(__file__).resolve().parents[2] / "seeds" / "regulated_savings_rates.csv"
VALUE_PARTS = ("deposit_margin", "overdraft_interest", "loan_margin", "card_income", "investment_fees", "cost_to_serve")
# a tie between parts of equal absolute value goes to the first of this order
MAIN_DRIVER_ORDER = (
    "loan_margin",
    "deposit_margin",
    "investment_fees",
    "card_income",
    "overdraft_interest",
    "cost_to_serve",
)
TIERS = ("Negative", "Low", "Core", "High", "Top")
CENT = D("0.01")


def regulated_rates(path: Path = REGULATED_RATES_SEED) -> dict[str, list[tuple[dt.date, Decimal]]]:
    """The seed's rates by account type (LA, LJ), oldest first."""
    with path.open(newline="") as seed:
        rows = sorted(
            (row["account_type"], dt.date.fromisoformat(row["valid_from"]), D(row["annual_rate"]))
            for row in csv.DictReader(seed)
        )
    rates = defaultdict(list)
    for account_type, valid_from, rate in rows:
        rates[account_type].append((valid_from, rate))
    return rates


def rate_paid(account_type: str, month: dt.date, rates: dict, seed: dict) -> Decimal:
    """What the bank pays a saver: the regulated rate in force on the month's first day (LA, LJ),
    else the current-account rate."""
    if account_type not in ("LA", "LJ"):
        return rates["value_current_account_rate"]
    in_force = [rate for valid_from, rate in seed[account_type] if valid_from <= month]
    return in_force[-1] if in_force else D("0")


def cents_of(amount: Decimal) -> Decimal:
    """Rounded once to the cent, half away from zero."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def value_tier(contribution_12m: Decimal, rates: dict) -> str:
    if contribution_12m < 0:
        return "Negative"
    for tier, var in (("Top", "top"), ("High", "high"), ("Core", "core")):
        if contribution_12m >= rates[f"value_tier_{var}_from"]:
            return tier
    return "Low"


def main_driver(parts: dict[str, Decimal]) -> str:
    """The part of largest absolute value, in words; 'none' when all are zero."""
    if not any(parts.values()):
        return "none"
    largest = max(abs(parts[name]) for name in MAIN_DRIVER_ORDER)
    return next(name for name in MAIN_DRIVER_ORDER if abs(parts[name]) == largest).replace("_", " ")


def compute_value_marts(bank: Bank, tables: dict | None = None, rates: dict | None = None) -> dict[str, list[dict]]:
    """marts.fct_customer_value and marts.value_tier_migrations for the months of `bank.months` (the
    months the warehouse holds), from the bank's rows and the statements of `compute_marts(bank)`
    (computed when `tables` is not given); `rates` overrides the dbt vars' defaults by name.

    definition_version is the label 'independent': in the warehouse it is a hash of the rates, which
    the tests compare between builds."""
    tables = tables if tables is not None else compute_marts(bank)
    rates = {**VALUE_DEFAULTS, **(rates or {})}
    seed = regulated_rates()
    in_window = set(bank.months)
    owner = {a["account_id"]: a["customer_id"] for a in bank.accounts}
    accounts_of = _by_customer(bank.accounts)
    account_type = {a["account_id"]: a["account_type"] for a in bank.accounts}
    loans_of, investments_of = _by_customer(bank.loans), _by_customer(bank.investments)
    cards_of = _by_customer(bank.cards)
    versions_of = _by_customer(bank.customer_versions)
    customers = {c["customer_id"]: c for c in bank.customers}
    statements_of = defaultdict(list)
    for statement in tables["fct_monthly_statement"]:
        statements_of[(statement["customer_id"], statement["month_start"])].append(statement)
    # completed card payments and cash withdrawals sent from a customer's account, in their booking month
    card_payments, withdrawals = defaultdict(lambda: D("0.00")), Counter()
    for t in bank.transactions:
        if t["status"] != "completed" or t["sender_account_id"] is None:
            continue
        month = booking_month(t)
        if month not in in_window:
            continue
        key = (owner[t["sender_account_id"]], month)
        if t["category"] == "card_payment":
            card_payments[key] += t["amount"]
        elif t["category"] == "withdrawal":
            withdrawals[key] += 1
    fee_rate = {"PEA": rates["value_pea_fee_rate"], "life insurance": rates["value_life_insurance_fee_rate"]}

    value = []
    contributions = defaultdict(dict)  # customer -> month -> contribution
    for row in sorted(tables["fct_customer_month"], key=lambda r: (r["month_start"], r["customer_id"])):
        cid, m = row["customer_id"], row["month_start"]
        statements = statements_of[(cid, m)]
        deposit = sum(
            (
                s["closing_balance"]
                * (rates["value_funds_transfer_rate"] - rate_paid(account_type[s["account_id"]], m, rates, seed))
                for s in statements
                if s["closing_balance"] > 0
            ),
            D("0"),
        )
        overdraft = sum((-s["closing_balance"] * rates["value_overdraft_rate"] for s in statements
                         if s["closing_balance"] < 0), D("0"))  # fmt: skip
        loans = [p for p in loans_of[cid] if _active_product(p, m)]
        investments = [p for p in investments_of[cid] if _active_product(p, m)]
        fees = sum((c["fee"] for c in cards_of[cid] if _active_product(c, m)), D("0.00"))
        open_accounts = sum(1 for a in accounts_of[cid] if _active(a["open_date"], a.get("closed_date"), m))
        sides = sum(s["transaction_count"] for s in statements)
        parts = {
            "deposit_margin": cents_of(deposit / 12),
            "overdraft_interest": cents_of(overdraft / 12),
            "loan_margin": cents_of(
                sum((p["amount"] * (p["interest_rate"] - rates["value_loan_funding_rate"]) for p in loans), D("0")) / 12
            ),
            "card_income": cents_of(fees + card_payments[(cid, m)] * rates["value_card_interchange_rate"]),
            "investment_fees": cents_of(
                sum((p["amount"] * fee_rate.get(p["product_name"], D("0")) for p in investments), D("0")) / 12
            ),
            "cost_to_serve": cents_of(
                open_accounts * rates["value_cost_per_account"]
                + sides * rates["value_cost_per_transaction"]
                + withdrawals[(cid, m)] * rates["value_cost_per_withdrawal"]
            ),
        }
        contribution = sum((parts[p] for p in VALUE_PARTS[:-1]), D("0.00")) - parts["cost_to_serve"]
        contributions[cid][m] = contribution
        # the twelve months ending in M that the warehouse holds, since the customer signed up
        year = [
            contributions[cid][earlier]
            for earlier in contributions[cid]
            if earlier <= m and (earlier.year * 12 + earlier.month) > (m.year * 12 + m.month) - 12
        ]
        contribution_12m = sum(year, D("0.00"))
        tier = value_tier(contribution_12m, rates)
        value.append(
            {
                "customer_id": cid,
                "month_start": m,
                "advisor_id": row["advisor_id"],
                "profile": _at_month_end(customers[cid], versions_of[cid], m)["profile"],
                **parts,
                "contribution": contribution,
                "contribution_12m": contribution_12m,
                "months_in_12m": len(year),
                "value_tier": tier,
                "value_tier_rank": TIERS.index(tier) + 1,
                "main_driver": main_driver(parts),
                "deposits": sum((s["closing_balance"] for s in statements if s["closing_balance"] > 0), D("0.00")),
                "overdrawn": -sum((s["closing_balance"] for s in statements if s["closing_balance"] < 0), D("0.00")),
                "loans_outstanding": sum((p["amount"] for p in loans), D("0.00")),
                "investments_held": sum((p["amount"] for p in investments), D("0.00")),
                "card_fees": fees,
                "card_payments": card_payments[(cid, m)],
                "open_accounts": open_accounts,
                "transaction_sides": sides,
                "cash_withdrawals": withdrawals[(cid, m)],
                # a hash of the dbt vars in the warehouse: here, a label (the tests compare versions between builds)
                "definition_version": "independent",
            }
        )
    return {"fct_customer_value": value, "value_tier_migrations": tier_migrations(value, bank.months)}


def tier_migrations(value: list[dict], months: list[dt.date]) -> list[dict]:
    """Per month M of `months`: customers by (tier in M−1, tier in M), None for no row that month."""
    tier_of = {(r["customer_id"], r["month_start"]): r["value_tier"] for r in value}
    rows = []
    for m in months:
        before = next((p for p in months if next_month(p) == m), None)
        now = {cid for (cid, month) in tier_of if month == m}
        then = {cid for (cid, month) in tier_of if month == before} if before else set()
        moves = Counter((tier_of.get((cid, before)), tier_of.get((cid, m))) for cid in now | then)
        for (from_tier, to_tier), count in sorted(moves.items(), key=str):
            rows.append({"month_start": m, "from_tier": from_tier, "to_tier": to_tier, "customer_count": count})
    return rows
