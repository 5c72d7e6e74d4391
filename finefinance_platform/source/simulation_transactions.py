"""One month of simulated banking: the transactions of every customer, as whole numpy arrays.

How a customer's month is made (all customers at once, no per-row Python):
- fixed flows: the salary on payday (credit from the employer), subscriptions on their day,
  the savings transfer to their own LA/LJ account after payday, loan repayments, loan payouts;
- a spending budget = salary × spending share × the share of the month the account was open,
  minus the fixed debits; it is spread over card payments, cash withdrawals and transfers to
  other customers with random weights, so each customer spends what their habits say. The
  overspending cohort's share is above 1 for months (in the red), the affluent spend or borrow big;
- a few reimbursements and deposits from outside;
- a few % of the payments fail, some are booked days later (status `completed`, `booked_at` and
  `updated_at` at the booking, which may fall into the next month), and those not booked by the end
  of the simulation stay `pending` (`booked_at` NULL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finefinance_platform.source.simulation_load import euros, labels, take_strings, timestamps, uuid4_strings
from finefinance_platform.source.simulation_population import (
    DAY,
    EMPLOYERS,
    HIGH_WITHDRAWALS,
    HOUR,
    SUBSCRIPTIONS,
    Population,
    first_day_of_month_number,
    month_number,
)

CATEGORIES = (
    "salary", "subscription", "card_payment", "withdrawal", "transfer", "loan_payment", "reimbursement", "deposit",
)  # fmt: skip
SALARY, SUBSCRIPTION, CARD_PAYMENT, WITHDRAWAL, TRANSFER, LOAN_PAYMENT, REIMBURSEMENT, DEPOSIT = range(8)
STATUSES = ("pending", "completed", "failed")
PENDING, COMPLETED, FAILED = range(3)

CARD_MERCHANTS = (
    "Carrefour", "Monoprix", "Fnac", "Amazon", "SNCF", "Uber", "Leroy Merlin", "Pharmacie du Centre",
    "Boulangerie Paul", "Zara", "Ikea", "TotalEnergies", "Le Bistrot", "Pathé Cinémas", "Decathlon", "Lidl",
)  # fmt: skip
TRANSFER_REASONS = ("Transfer", "Rent share", "Dinner split", "Birthday gift", "Holiday costs")
REIMBURSERS = ("Assurance Maladie", "Mutuelle Générale", "Amazon", "SNCF", "Impots.gouv")
LOAN_SERVICER = "FineFinance Loans"

# one vocabulary per text column; codes index into them
COUNTERPARTIES = (
    EMPLOYERS
    + tuple(name for name, _price in SUBSCRIPTIONS)
    + CARD_MERCHANTS
    + ("ATM", LOAN_SERVICER, "Cash deposit", "Cheque deposit")
    + REIMBURSERS
)
DESCRIPTIONS = (
    ("Salary", "Card payment", "Cash withdrawal", "Savings transfer", "Loan repayment", "Loan payout",
     "Cash deposit", "Cheque deposit", "Reimbursement")
    + tuple(f"{name} subscription" for name, _price in SUBSCRIPTIONS)
    + TRANSFER_REASONS
)  # fmt: skip
_EMPLOYER_AT = 0
_SUBSCRIPTION_AT = len(EMPLOYERS)
_MERCHANT_AT = _SUBSCRIPTION_AT + len(SUBSCRIPTIONS)
_ATM, _LOANS, _CASH, _CHEQUE = range(_MERCHANT_AT + len(CARD_MERCHANTS), _MERCHANT_AT + len(CARD_MERCHANTS) + 4)
_REIMBURSER_AT = _CHEQUE + 1
(D_SALARY, D_CARD, D_WITHDRAWAL, D_SAVINGS, D_LOAN_REPAYMENT, D_LOAN_PAYOUT, D_CASH, D_CHEQUE,
 D_REIMBURSEMENT) = range(9)  # fmt: skip
_D_SUBSCRIPTION_AT = 9
_D_TRANSFER_AT = _D_SUBSCRIPTION_AT + len(SUBSCRIPTIONS)
_SUBSCRIPTION_PRICES = np.array([price for _name, price in SUBSCRIPTIONS], dtype=np.int64)

# shares of payments that fail, settle days later, or are disputed for weeks before settling
FAILED_SHARE, DELAYED_SHARE, DISPUTED_SHARE = 0.02, 0.05, 0.003
CARD_PAYMENTS_PER_MONTH, WITHDRAWALS_PER_MONTH, TRANSFERS_PER_MONTH, CREDITS_PER_MONTH = 12.0, 1.5, 1.2, 0.6


@dataclass
class MonthTransactions:
    """The transactions dated in one month; account references are indexes, -1 = outside party."""

    sender: np.ndarray
    receiver: np.ndarray
    counterparty: np.ndarray
    date_second: np.ndarray
    cents: np.ndarray
    description: np.ndarray
    category: np.ndarray
    status: np.ndarray
    updated_second: np.ndarray
    ids: pa.Array

    def __len__(self) -> int:
        return len(self.cents)

    @property
    def booked_second(self) -> np.ndarray:
        """When each completed transaction was booked (its last update); -1 while pending or failed."""
        return np.where(self.status == COMPLETED, self.updated_second, -1)

    def net_cents_by_booking_month(self, account_count: int, month_start_seconds: np.ndarray) -> np.ndarray:
        """Credits − debits of the completed transactions per account and booking month (integer cents).

        `month_start_seconds` are the first instants of the months and of the month after the last;
        a transaction counts in the month of its booking, which may follow the month it was made in.
        """
        months = len(month_start_seconds) - 1
        done = self.status == COMPLETED
        booking_month = np.searchsorted(month_start_seconds, self.booked_second[done], side="right") - 1
        weights = self.cents[done].astype(np.float64)  # exact: sums stay far below 2**53 cents
        net = np.zeros(account_count * months, dtype=np.float64)
        for side, sign in ((self.receiver[done], 1.0), (self.sender[done], -1.0)):
            internal = side >= 0
            cell = side[internal] * months + booking_month[internal]
            net += sign * np.bincount(cell, weights[internal], account_count * months)
        return np.rint(net).astype(np.int64).reshape(account_count, months)

    def to_arrow(self, account_ids: pa.Array) -> pa.Table:
        # currency is left to the column default ('EUR'): every simulated amount is in euros
        created = timestamps(self.date_second)
        booked = self.booked_second
        return pa.table({
            "transaction_id": self.ids,
            "sender_account_id": take_strings(account_ids, self.sender),
            "receiver_account_id": take_strings(account_ids, self.receiver),
            "counterparty": labels(COUNTERPARTIES, self.counterparty),
            "transaction_date": created,
            "amount": euros(self.cents),
            "description": labels(DESCRIPTIONS, self.description),
            "category": labels(CATEGORIES, self.category),
            "status": labels(STATUSES, self.status),
            "booked_at": pa.array(booked, pa.timestamp("s"), mask=booked < 0),
            "created_at": created,
            "updated_at": timestamps(self.updated_second),
        })  # fmt: skip


class _Rows:
    """Collects the parts of a month (salaries, subscriptions...) before they are concatenated."""

    FIELDS = ("sender", "receiver", "counterparty", "day", "second_of_day", "cents", "description", "category",
              "may_fail")  # fmt: skip

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {field: [] for field in self.FIELDS}

    def add(self, *, count: int, **columns) -> None:
        for field in self.FIELDS:
            value = columns[field]
            self.parts[field].append(np.broadcast_to(np.asarray(value), (count,)))

    def concat(self, field: str) -> np.ndarray:
        return np.concatenate(self.parts[field])


@dataclass(frozen=True)
class _Month:
    """The month being generated: its days and who can transact when."""

    index: int
    first_day: int
    days_in_month: int
    last_day: int  # never beyond the period's end (today)
    active_from: np.ndarray  # per customer: the first day their normal account can be used
    active: np.ndarray  # per customer: usable at some point this month
    open_share: np.ndarray  # per customer: the share of the month their account is usable
    everyone: np.ndarray

    def on_day(self, day_of_month: np.ndarray) -> np.ndarray:
        return self.first_day + np.minimum(day_of_month, self.days_in_month) - 1

    def usable(self, day: np.ndarray, who: np.ndarray) -> np.ndarray:
        return self.active[who] & (day >= self.active_from[who]) & (day <= self.last_day)


def generate_month(rng: np.random.Generator, population: Population, month_index: int) -> MonthTransactions:
    """Every transaction of one month, flow by flow. The flows draw from `rng` in this order, so a
    seed gives the same month whatever else changes around them."""
    pop, period = population, population.period
    starts = period.month_starts
    first_day = int(starts[month_index])
    days_in_month = int(starts[month_index + 1]) - first_day
    last_day = min(first_day + days_in_month - 1, period.end_day - 1)
    rows = _Rows()
    if last_day < first_day:
        return _finish(rng, pop, rows)
    # a customer's normal account (index = customer) is usable from the day after it opened, so
    # its opening balance row (0 on the open date) stays true
    active_from = np.maximum(first_day, pop.signup_day + 1)
    active = active_from <= last_day
    month = _Month(
        index=month_index,
        first_day=first_day,
        days_in_month=days_in_month,
        last_day=last_day,
        active_from=active_from,
        active=active,
        open_share=np.where(active, (last_day - active_from + 1) / days_in_month, 0.0),
        everyone=np.arange(pop.customer_count),
    )
    payday = _salaries(rng, pop, month, rows)
    fixed_debits = _subscriptions(rng, pop, month, rows)
    _savings(rng, pop, month, rows, payday)
    fixed_debits += _loans(rng, pop, month, rows)
    _spending(rng, pop, month, rows, fixed_debits)
    _money_from_outside(rng, month, rows)
    return _finish(rng, pop, rows)


def _salaries(rng: np.random.Generator, pop: Population, month: _Month, rows: _Rows) -> np.ndarray:
    """From the employer to the normal account, on payday; returns each customer's payday."""
    payday = month.on_day(pop.salary_day_of_month)
    paid = np.flatnonzero(month.usable(payday, month.everyone))
    rows.add(
        count=len(paid),
        sender=-1,
        receiver=paid,
        counterparty=_EMPLOYER_AT + pop.employer[paid],
        day=payday[paid],
        second_of_day=rng.integers(3 * HOUR, 6 * HOUR, len(paid)),
        cents=pop.salary_cents[paid],
        description=D_SALARY,
        category=SALARY,
        may_fail=False,
    )
    return payday


def _subscriptions(rng: np.random.Generator, pop: Population, month: _Month, rows: _Rows) -> np.ndarray:
    """Fixed merchants, prices and days; returns what they take from each customer."""
    merchant = pop.subscription_merchant
    sub_day = month.first_day + pop.subscription_day_of_month - 1
    subscribed = (
        (merchant >= 0) & month.active[:, None] & (sub_day >= month.active_from[:, None]) & (sub_day <= month.last_day)
    )
    sub_owner, sub_slot = np.nonzero(subscribed)
    sub_merchant = merchant[sub_owner, sub_slot]
    sub_cents = _SUBSCRIPTION_PRICES[sub_merchant]
    rows.add(
        count=len(sub_owner),
        sender=sub_owner,
        receiver=-1,
        counterparty=_SUBSCRIPTION_AT + sub_merchant,
        day=sub_day[sub_owner, sub_slot],
        second_of_day=rng.integers(0, 6 * HOUR, len(sub_owner)),
        cents=sub_cents,
        description=_D_SUBSCRIPTION_AT + sub_merchant,
        category=SUBSCRIPTION,
        may_fail=True,
    )
    return np.bincount(sub_owner, sub_cents, pop.customer_count)


def _savings(rng: np.random.Generator, pop: Population, month: _Month, rows: _Rows, payday: np.ndarray) -> None:
    """Normal account to the customer's own LA/LJ account the day after payday (an own transfer)."""
    saving_day = np.minimum(payday + 1, month.first_day + month.days_in_month - 1)
    target = pop.saving_account
    saves = (target >= 0) & month.usable(saving_day, month.everyone)
    saves &= pop.account_open_day[np.maximum(target, 0)] < saving_day
    savers = np.flatnonzero(saves)
    rows.add(
        count=len(savers),
        sender=savers,
        receiver=target[savers],
        counterparty=-1,
        day=saving_day[savers],
        second_of_day=rng.integers(7 * HOUR, 9 * HOUR, len(savers)),
        cents=pop.saving_cents[savers],
        description=D_SAVINGS,
        category=TRANSFER,
        may_fail=True,
    )


def _loans(rng: np.random.Generator, pop: Population, month: _Month, rows: _Rows) -> np.ndarray:
    """The monthly repayments, and the principal paid into the account on a loan's start day;
    returns the repayments taken from each customer."""
    loans = pop.loans
    this_month = month_number(np.array([month.first_day]))[0]
    loan_start_month = month_number(loans.start_day)
    repaying = (loan_start_month < this_month) & (month_number(loans.end_day) >= this_month)
    repayment_day = month.on_day(loans.start_day - first_day_of_month_number(loan_start_month) + 1)
    repaying &= month.usable(repayment_day, loans.customer)
    due = np.flatnonzero(repaying)
    rows.add(
        count=len(due),
        sender=loans.customer[due],
        receiver=-1,
        counterparty=_LOANS,
        day=repayment_day[due],
        second_of_day=rng.integers(2 * HOUR, 5 * HOUR, len(due)),
        cents=loans.payment_cents[due],
        description=D_LOAN_REPAYMENT,
        category=LOAN_PAYMENT,
        may_fail=False,
    )
    paid_out = np.flatnonzero(month.usable(loans.start_day, loans.customer))
    rows.add(
        count=len(paid_out),
        sender=-1,
        receiver=loans.customer[paid_out],
        counterparty=_LOANS,
        day=loans.start_day[paid_out],
        second_of_day=rng.integers(10 * HOUR, 12 * HOUR, len(paid_out)),
        cents=loans.cents[paid_out],
        description=D_LOAN_PAYOUT,
        category=DEPOSIT,
        may_fail=False,
    )
    return np.bincount(loans.customer[due], loans.payment_cents[due], pop.customer_count)


def _spending(rng: np.random.Generator, pop: Population, month: _Month, rows: _Rows, fixed_debits: np.ndarray) -> None:
    """The month's spending budget (salary x spending ratio, less the fixed debits), spread over
    card payments, withdrawals and transfers to other customers."""
    customers, everyone, active_from, open_share = (
        pop.customer_count,
        month.everyone,
        month.active_from,
        month.open_share,
    )
    overspending = (month.index >= pop.overspend_first) & (month.index < pop.overspend_last)
    ratio = np.where(overspending, pop.overspend_ratio, pop.spend_ratio)
    expected = np.stack([
        CARD_PAYMENTS_PER_MONTH * pop.activity,
        WITHDRAWALS_PER_MONTH * pop.activity + 2 * (pop.affluent_kind == HIGH_WITHDRAWALS),
        TRANSFERS_PER_MONTH * pop.activity,
    ], axis=1) * open_share[:, None]  # fmt: skip
    counts = rng.poisson(expected)
    owner = np.repeat(np.repeat(everyone, 3), counts.ravel())
    kind = np.repeat(np.tile([CARD_PAYMENT, WITHDRAWAL, TRANSFER], customers), counts.ravel())
    spend_count = len(owner)
    span = month.last_day - active_from[owner] + 1
    day = active_from[owner] + np.floor(rng.random(spend_count) * span).astype(np.int64)
    weight = rng.gamma(2.0, 1.0, spend_count) * np.select([kind == WITHDRAWAL, kind == TRANSFER], [2.5, 1.5], 1.0)
    budget = np.rint(pop.salary_cents * ratio * open_share).astype(np.int64) - fixed_debits
    budget = np.maximum(budget, 1500 * counts.sum(axis=1))  # at least 15 EUR a payment on average
    total_weight = np.bincount(owner, weight, customers)
    cents = np.maximum(np.rint(budget[owner] * weight / total_weight[owner]), 100).astype(np.int64)
    is_withdrawal = kind == WITHDRAWAL
    cents[is_withdrawal] = np.maximum(np.rint(cents[is_withdrawal] / 1000), 1) * 1000  # ATMs give tens

    # a transfer goes to another customer whose account is open that day
    receiver = np.full(spend_count, -1, dtype=np.int64)
    is_transfer = kind == TRANSFER
    receivers_by_start = np.argsort(pop.signup_day + 1, kind="stable")
    starts_sorted = (pop.signup_day + 1)[receivers_by_start]
    eligible = np.searchsorted(starts_sorted, day[is_transfer], side="right")
    pick = np.floor(rng.random(len(eligible)) * eligible).astype(np.int64)
    chosen = receivers_by_start[np.minimum(pick, customers - 1)]
    itself = chosen == owner[is_transfer]
    chosen[itself] = receivers_by_start[(pick[itself] + 1) % np.maximum(eligible[itself], 1)]
    receiver[is_transfer] = chosen
    keep = ~is_transfer
    keep[is_transfer] = eligible >= 2  # nobody else to send to: no transfer
    counterparty = np.select(
        [kind == CARD_PAYMENT, is_withdrawal],
        [_MERCHANT_AT + rng.integers(0, len(CARD_MERCHANTS), spend_count), _ATM],
        -1,
    )
    description = np.select(
        [kind == CARD_PAYMENT, is_withdrawal],
        [D_CARD, D_WITHDRAWAL],
        _D_TRANSFER_AT + rng.integers(0, len(TRANSFER_REASONS), spend_count),
    )
    rows.add(
        count=int(keep.sum()),
        sender=owner[keep],
        receiver=receiver[keep],
        counterparty=counterparty[keep],
        day=day[keep],
        second_of_day=rng.integers(7 * HOUR, 23 * HOUR, int(keep.sum())),
        cents=cents[keep],
        description=description[keep],
        category=kind[keep],
        may_fail=True,
    )


def _money_from_outside(rng: np.random.Generator, month: _Month, rows: _Rows) -> None:
    """Reimbursements, cheques and cash deposits."""
    credit_counts = rng.poisson(CREDITS_PER_MONTH * month.open_share)
    credited = np.repeat(month.everyone, credit_counts)
    credit_count = len(credited)
    span = month.last_day - month.active_from[credited] + 1
    credit_day = month.active_from[credited] + np.floor(rng.random(credit_count) * span).astype(np.int64)
    is_reimbursement = rng.random(credit_count) < 0.6
    cheque = rng.random(credit_count) < 0.5
    rows.add(
        count=credit_count,
        sender=-1,
        receiver=credited,
        counterparty=np.where(
            is_reimbursement,
            _REIMBURSER_AT + rng.integers(0, len(REIMBURSERS), credit_count),
            np.where(cheque, _CHEQUE, _CASH),
        ),
        day=credit_day,
        second_of_day=rng.integers(8 * HOUR, 20 * HOUR, credit_count),
        cents=np.maximum(np.rint(rng.gamma(2.0, 4000.0, credit_count)), 500).astype(np.int64),
        description=np.where(is_reimbursement, D_REIMBURSEMENT, np.where(cheque, D_CHEQUE, D_CASH)),
        category=np.where(is_reimbursement, REIMBURSEMENT, DEPOSIT),
        may_fail=True,
    )


def _finish(rng: np.random.Generator, pop: Population, rows: _Rows) -> MonthTransactions:
    """Concatenate the parts, give each row its status and settlement time, order by date."""
    if not rows.parts["cents"]:
        empty = np.empty(0, dtype=np.int64)
        return MonthTransactions(empty, empty, empty, empty, empty, empty, empty, empty, empty, uuid4_strings(rng, 0))
    date_second = rows.concat("day").astype(np.int64) * DAY + rows.concat("second_of_day")
    order = np.argsort(date_second, kind="stable")
    date_second = date_second[order]
    may_fail = rows.concat("may_fail")[order]
    count = len(date_second)

    end = pop.period.end_second
    draw = np.where(may_fail, rng.random(count), 1.0)
    failed = draw < FAILED_SHARE
    delay = np.zeros(count, dtype=np.int64)
    delayed = (draw >= FAILED_SHARE) & (draw < FAILED_SHARE + DELAYED_SHARE)
    disputed = (draw >= FAILED_SHARE + DELAYED_SHARE) & (draw < FAILED_SHARE + DELAYED_SHARE + DISPUTED_SHARE)
    delay[delayed] = rng.integers(1 * DAY, 5 * DAY, int(delayed.sum()))
    delay[disputed] = rng.integers(10 * DAY, 40 * DAY, int(disputed.sum()))
    settled_at = date_second + delay
    status = np.where(failed, FAILED, np.where(settled_at < end, COMPLETED, PENDING))
    updated = np.select(
        [failed, status == COMPLETED],
        [np.minimum(date_second + rng.integers(60, HOUR, count), end), settled_at],
        date_second,  # still pending: untouched since it was created
    )
    return MonthTransactions(
        sender=rows.concat("sender")[order].astype(np.int64),
        receiver=rows.concat("receiver")[order].astype(np.int64),
        counterparty=rows.concat("counterparty")[order].astype(np.int64),
        date_second=date_second,
        cents=rows.concat("cents")[order].astype(np.int64),
        description=rows.concat("description")[order].astype(np.int64),
        category=rows.concat("category")[order].astype(np.int64),
        status=status,
        updated_second=updated,
        ids=uuid4_strings(rng, count),
    )
