"""`finefinance simulate --trickle`: a live bank, one small committed batch at a time.

Each batch, in one transaction: new transactions dated now (most completed and booked at once, some
pending or failed), pending ones completing (booked now, sometimes failed instead), now and then a new customer with an
account, a profile upgrade, a loan, card or investment, a card expiring. Every inserted or updated
row gets `updated_at = now()`, so incremental ingestion on `updated_at` sees each change.

The balance rows stay consistent with the completed transactions, as the simulator made them:
- a pending transaction that completes is booked today, so it moves only balance rows dated today
  or later (never a closed month's);
- when a month has closed since the last batch, its month-end rows are written from the
  transactions booked by then (core banking's month-end run);
- transactions dated now only use accounts opened before today, so no existing row changes.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import psycopg2
from psycopg2.extras import execute_values

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.source.simulation_population import (
    ASCII_FOLD,
    CARD_FEES_CENTS,
    CARD_LIMITS_EUROS,
    EMPLOYERS,
    FIRSTNAMES,
    INVESTMENT_PRODUCTS,
    PROFILE_LEVELS,
    SUBSCRIPTIONS,
    SURNAMES,
)
from finefinance_platform.source.simulation_transactions import CARD_MERCHANTS, REIMBURSERS

NEW_TRANSACTIONS_PER_BATCH = 15
PENDING_SETTLED_PER_BATCH = 4


@dataclass
class TrickleSummary:
    batches: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: dict[str, int], table: str, rows: int) -> None:
        kind[table] = kind.get(table, 0) + rows


@dataclass
class _Bank:
    """What the trickle needs to know of the source, read once and kept up to date in memory."""

    advisors: list[str]
    customers: list[str]
    profile: list[int]
    normal_account: list[str]  # of customers[i]
    normal_open: list[dt.date]
    savings_account: dict[str, str]  # customer -> LA account
    pending: list[str]  # transaction ids
    active_cards: list[str]


def _read_bank(cursor) -> _Bank:
    cursor.execute("select advisor_id::text from crm.advisor order by advisor_id")
    advisors = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "select c.customer_id::text, c.profile_level, a.account_id::text, a.open_date"
        " from crm.customer c join banking.account a on a.customer_id = c.customer_id"
        " where a.account_type = 'normal' and a.closed_date is null order by c.customer_id"
    )
    rows = cursor.fetchall()
    if not advisors or not rows:
        raise FineFinanceError("the source holds no customers yet: run `finefinance simulate` before --trickle")
    cursor.execute(
        "select customer_id::text, min(account_id::text) from banking.account"
        " where account_type = 'LA' and closed_date is null and open_date < current_date group by customer_id"
    )
    savings = dict(cursor.fetchall())
    cursor.execute(
        "select transaction_id::text from banking.transaction where status = 'pending'"
        " order by transaction_date, transaction_id"
    )
    pending = [row[0] for row in cursor.fetchall()]
    cursor.execute("select card_id::text from product.credit_card where status = 'active' order by 1")
    cards = [row[0] for row in cursor.fetchall()]
    return _Bank(
        advisors=advisors,
        customers=[row[0] for row in rows],
        profile=[PROFILE_LEVELS.index(row[1]) for row in rows],
        normal_account=[row[2] for row in rows],
        normal_open=[row[3] for row in rows],
        savings_account=savings,
        pending=pending,
        active_cards=cards,
    )


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def run_trickle(
    dsn: str,
    *,
    seed: int,
    interval_seconds: float = 1.0,
    max_batches: int | None = None,
    echo: Callable[[str], None] = print,
) -> TrickleSummary:
    """Run batches until `max_batches` (or forever); Ctrl-C stops cleanly between or inside a batch."""
    # seeded for the mix of events, salted with the clock so two trickles never draw the same ids
    rng = np.random.default_rng([max(seed, 0), time.time_ns()])
    summary = TrickleSummary()
    with closing(psycopg2.connect(dsn)) as conn:
        with conn.cursor() as cur:
            bank = _read_bank(cur)
        conn.rollback()
        closed_month_ends: set[dt.date] = set()
        try:
            while max_batches is None or summary.batches < max_batches:
                if summary.batches:
                    time.sleep(interval_seconds)
                with conn.cursor() as cur:
                    line = _batch(cur, rng, bank, summary, closed_month_ends)
                conn.commit()
                summary.batches += 1
                echo(f"batch {summary.batches}: {line}")
        except KeyboardInterrupt:
            conn.rollback()
            echo(f"trickle stopped after {summary.batches} batches")
    return summary


def _batch(cur, rng: np.random.Generator, bank: _Bank, summary: TrickleSummary, closed: set[dt.date]) -> str:
    cur.execute("select (now() at time zone 'UTC')::date")
    today = cur.fetchone()[0]
    notes = []

    month_end = today.replace(day=1) - dt.timedelta(days=1)
    if month_end not in closed:
        written = _write_month_end(cur, month_end)
        closed.add(month_end)
        if written:
            summary.count(summary.inserted, "banking.balance", written)
            notes.append(f"{written} month-end balances for {month_end}")

    settled, failed = _settle_pending(cur, rng, bank)
    summary.count(summary.updated, "banking.transaction", settled + failed)

    usable = [i for i, opened in enumerate(bank.normal_open) if opened < today]
    new_rows, new_pending = _new_transactions(cur, rng, bank, usable)
    summary.count(summary.inserted, "banking.transaction", new_rows)
    notes.insert(0, f"+{new_rows} transactions ({new_pending} pending), {settled} settled, {failed} failed")

    if rng.random() < 0.4:
        _new_customer(cur, rng, bank, today)
        summary.count(summary.inserted, "crm.customer", 1)
        summary.count(summary.inserted, "banking.account", 1)
        notes.append("+1 customer")
    if rng.random() < 0.3 and _upgrade_profile(cur, rng, bank):
        summary.count(summary.updated, "crm.customer", 1)
        notes.append("1 profile upgrade")
    product = _new_product(cur, rng, bank, today)
    if product:
        summary.count(summary.inserted, product, 1)
        notes.append(f"+1 {product.split('.')[1]}")
    if rng.random() < 0.05 and bank.active_cards:
        card = bank.active_cards.pop(int(rng.integers(len(bank.active_cards))))
        cur.execute(
            "update product.credit_card set status = 'expired', end_date = greatest(start_date, %s),"
            " updated_at = now() where card_id = %s",
            (today, card),
        )
        summary.count(summary.updated, "product.credit_card", cur.rowcount)
        notes.append("1 card expired")
    return ", ".join(notes)


def _write_month_end(cur, month_end: dt.date) -> int:
    """Month-end balances for accounts that have none at `month_end` (core banking's close)."""
    cur.execute(
        """
        insert into banking.balance (account_id, balance_date, balance, currency, updated_at)
        select a.account_id, %(day)s, coalesce((
                   select sum(case when t.receiver_account_id = a.account_id then t.amount else -t.amount end)
                   from banking.transaction t
                   where (t.receiver_account_id = a.account_id or t.sender_account_id = a.account_id)
                     and t.status = 'completed'
                     and t.booked_at < (%(day)s::date + 1)::timestamp at time zone 'UTC'
               ), 0), a.currency, now()
        from banking.account a
        where a.open_date <= %(day)s
          and not exists (select 1 from banking.balance b where b.account_id = a.account_id
                          and b.balance_date = %(day)s)
        """,
        {"day": month_end},
    )
    return cur.rowcount


def _settle_pending(cur, rng: np.random.Generator, bank: _Bank) -> tuple[int, int]:
    """Complete a few pending transactions (oldest first, a few fail instead): booked now."""
    count = min(len(bank.pending), int(rng.integers(1, 2 * PENDING_SETTLED_PER_BATCH)))
    if not count:
        return 0, 0
    chosen, bank.pending[:] = bank.pending[:count], bank.pending[count:]
    failing = [tid for tid in chosen if rng.random() < 0.1]
    completing = [tid for tid in chosen if tid not in failing]
    cur.execute(
        "update banking.transaction set status = 'failed', updated_at = now()"
        " where transaction_id = any(%s::uuid[]) and status = 'pending'",
        (failing,),
    )
    failed = cur.rowcount
    # the booked amounts move the balance rows dated on or after the booking day (an account opened
    # today has one)
    cur.execute(
        """
        with settled as (
            update banking.transaction set status = 'completed', booked_at = now(), updated_at = now()
            where transaction_id = any(%s::uuid[]) and status = 'pending'
            returning sender_account_id, receiver_account_id, amount,
                      (booked_at at time zone 'UTC')::date as day
        ), moves as (
            select receiver_account_id as account_id, amount as delta, day from settled
            where receiver_account_id is not null
            union all
            select sender_account_id, -amount, day from settled where sender_account_id is not null
        ), restated as (
            select b.account_id, b.balance_date, sum(m.delta) as delta
            from banking.balance b join moves m on m.account_id = b.account_id and b.balance_date >= m.day
            group by b.account_id, b.balance_date
        ), applied as (
            update banking.balance b set balance = b.balance + r.delta, updated_at = now()
            from restated r where b.account_id = r.account_id and b.balance_date = r.balance_date
            returning 1
        )
        select (select count(*) from settled), (select count(*) from applied)
        """,
        (completing,),
    )
    settled, _restated = cur.fetchone()
    return settled, failed


def _new_transactions(cur, rng: np.random.Generator, bank: _Bank, usable: list[int]) -> tuple[int, int]:
    if not usable:
        return 0, 0
    rows = []
    for _ in range(int(rng.poisson(NEW_TRANSACTIONS_PER_BATCH)) + 1):
        who = usable[int(rng.integers(len(usable)))]
        account, customer = bank.normal_account[who], bank.customers[who]
        kind = rng.choice(
            ["card_payment", "withdrawal", "transfer", "savings", "subscription", "salary", "reimbursement"],
            p=[0.55, 0.1, 0.12, 0.05, 0.1, 0.05, 0.03],
        )
        sender, receiver, counterparty = account, None, None
        if kind == "card_payment":
            counterparty = str(rng.choice(CARD_MERCHANTS))
            cents, description = rng.gamma(2.0, 2500), "Card payment"
        elif kind == "withdrawal":
            counterparty, cents, description = "ATM", 1000 * int(rng.integers(2, 31)), "Cash withdrawal"
        elif kind == "transfer" and len(usable) > 1:
            other = who
            while other == who:
                other = usable[int(rng.integers(len(usable)))]
            receiver, cents, description = bank.normal_account[other], rng.gamma(2.0, 5000), "Transfer"
        elif kind == "savings" and customer in bank.savings_account:
            kind, receiver = "transfer", bank.savings_account[customer]
            cents, description = 1000 * int(rng.integers(5, 31)), "Savings transfer"
        elif kind == "salary":
            sender, receiver, counterparty = None, account, str(rng.choice(EMPLOYERS))
            cents, description = rng.uniform(150_000, 400_000), "Salary"
        elif kind == "reimbursement":
            sender, receiver, counterparty = None, account, str(rng.choice(REIMBURSERS))
            cents, description = rng.gamma(2.0, 4000), "Reimbursement"
        else:  # a subscription (also when a transfer has nobody to go to)
            kind = "subscription"
            name, price = SUBSCRIPTIONS[int(rng.integers(len(SUBSCRIPTIONS)))]
            counterparty, cents, description = name, price, f"{name} subscription"
        status = rng.choice(["completed", "pending", "failed"], p=[0.85, 0.12, 0.03])
        transaction_id = _uuid(rng)
        if status == "pending":
            bank.pending.append(transaction_id)
        amount = max(round(float(cents)), 100) / 100
        rows.append((transaction_id, sender, receiver, counterparty, amount, description, str(kind), str(status),
                     status == "completed"))  # fmt: skip
    execute_values(
        cur,
        "insert into banking.transaction (transaction_id, sender_account_id, receiver_account_id, counterparty,"
        " amount, description, category, status, booked_at, transaction_date, created_at, updated_at) values %s",
        rows,
        # a completed one is booked at once
        template="(%s, %s, %s, %s, %s, %s, %s, %s, case when %s then now() end, now(), now(), now())",
    )
    return len(rows), sum(1 for row in rows if row[7] == "pending")


def _new_customer(cur, rng: np.random.Generator, bank: _Bank, today: dt.date) -> None:
    customer_id, account_id = _uuid(rng), _uuid(rng)
    first, last = FIRSTNAMES[int(rng.integers(len(FIRSTNAMES)))], SURNAMES[int(rng.integers(len(SURNAMES)))]
    email = f"{first}.{last}.{customer_id[:13]}@example.com".lower().translate(ASCII_FOLD)
    advisor = bank.advisors[int(rng.integers(len(bank.advisors)))]
    cur.execute(
        "insert into crm.customer (customer_id, firstname, surname, email, signup_date, profile_level,"
        " advisor_id, updated_at) values (%s, %s, %s, %s, %s, 'bronze', %s, now())",
        (customer_id, first, last, email, today, advisor),
    )
    cur.execute(
        "insert into banking.account (account_id, customer_id, account_type, currency, open_date, updated_at)"
        " values (%s, %s, 'normal', 'EUR', %s, now())",
        (account_id, customer_id, today),
    )
    cur.execute(
        "insert into banking.balance (account_id, balance_date, balance, currency, updated_at)"
        " values (%s, %s, 0, 'EUR', now())",
        (account_id, today),
    )
    bank.customers.append(customer_id)
    bank.profile.append(0)
    bank.normal_account.append(account_id)
    bank.normal_open.append(today)


def _upgrade_profile(cur, rng: np.random.Generator, bank: _Bank) -> bool:
    candidates = [i for i, level in enumerate(bank.profile) if level < len(PROFILE_LEVELS) - 1]
    if not candidates:
        return False
    who = candidates[int(rng.integers(len(candidates)))]
    bank.profile[who] += 1
    cur.execute(
        "update crm.customer set profile_level = %s, updated_at = now() where customer_id = %s",
        (PROFILE_LEVELS[bank.profile[who]], bank.customers[who]),
    )
    return True


def _new_product(cur, rng: np.random.Generator, bank: _Bank, today: dt.date) -> str | None:
    draw = rng.random()
    customer = bank.customers[int(rng.integers(len(bank.customers)))]
    product_id = _uuid(rng)
    if draw < 0.1:
        term_months = int(rng.choice([12, 24, 36, 48, 60, 84]))
        cur.execute(
            "insert into product.loan (loan_id, customer_id, amount, interest_rate, start_date, end_date,"
            " status, updated_at) values (%s, %s, %s, %s, %s, (%s::date + %s * interval '1 month')::date,"
            " 'active', now())",
            (product_id, customer, 100 * int(rng.integers(20, 401)), round(float(rng.uniform(0.025, 0.07)), 4),
             today, today, term_months),
        )  # fmt: skip
        return "product.loan"
    if draw < 0.2:
        tier = int(rng.integers(len(CARD_LIMITS_EUROS)))
        cur.execute(
            "insert into product.credit_card (card_id, customer_id, amount_limit, fee, start_date, status,"
            " updated_at) values (%s, %s, %s, %s, %s, 'active', now())",
            (product_id, customer, int(CARD_LIMITS_EUROS[tier]), int(CARD_FEES_CENTS[tier]) / 100, today),
        )
        bank.active_cards.append(product_id)
        return "product.credit_card"
    if draw < 0.3:
        cur.execute(
            "insert into product.investment (investment_id, customer_id, product_name, amount, opened_at,"
            " status, updated_at) values (%s, %s, %s, %s, %s, 'active', now())",
            (product_id, customer, str(rng.choice(INVESTMENT_PRODUCTS)), 100 * int(rng.integers(10, 201)), today),
        )
        return "product.investment"
    return None
