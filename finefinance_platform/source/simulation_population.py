"""Who banks at the simulated FineFinance: advisors, customers, accounts, loans, investments, cards.

Everything is drawn from one seeded numpy Generator, in a fixed order, as whole arrays: the same
(customers, period, seed) gives the same rows, UUIDs included. Dates are days since 1970-01-01 and
instants are seconds since the epoch (UTC), so the transaction generator can do its arithmetic on
plain integer arrays. Money is in integer cents.

Index conventions the transaction generator relies on: customer i's `normal` account is account i;
savings accounts (LA, then LJ) follow the C normal accounts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from finefinance_platform.source.simulation_load import dates, euros, labels, timestamps, uuid4_strings

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400
HOUR = 3_600

PROFILE_LEVELS = ("bronze", "gold", "diamant")
ACCOUNT_TYPES = ("normal", "LA", "LJ")
LOAN_STATUSES = ("active", "closed")
INVESTMENT_PRODUCTS = ("PEA", "life insurance")
INVESTMENT_STATUSES = ("active", "closed")
CARD_STATUSES = ("active", "expired")

# affluent kinds: how a customer of the affluent cohort is "high" (docs/business-definitions.md)
NOT_AFFLUENT, HIGH_WITHDRAWALS, HIGH_LOAN, HIGH_INVESTMENT = 0, 1, 2, 3

FIRSTNAMES = (
    "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Sarah", "Jade", "Louise", "Alice", "Zoé", "Lina",
    "Julie", "Anaïs", "Clara", "Marie", "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Adam",
    "Nathan", "Thomas", "Paul", "Raphaël", "Léo", "Mathis", "Théo", "Karim", "Yanis", "Nicolas", "Antoine",
)  # fmt: skip
SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Benali", "Nguyen", "Rousseau", "Faure", "Blanc", "Guerin", "Muller", "Henry", "Roussel", "Perrin",
)  # fmt: skip
CITIES = ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Bordeaux", "Strasbourg", "Rennes", "Nice")
ASCII_FOLD = str.maketrans("éèëêïîôç", "eeeeiioc")


@dataclass(frozen=True)
class Period:
    """The simulated months; activity stops at `end` (exclusive), never in the future."""

    first_month: dt.date
    months: int
    end: dt.date  # the first day without activity: min(today, the day after the last month)

    @property
    def month_starts(self) -> np.ndarray:
        """Day numbers of each month's first day, plus the day after the last month (length months+1)."""
        first = np.datetime64(self.first_month, "M")
        return (first + np.arange(self.months + 1)).astype("datetime64[D]").astype(np.int64)

    @property
    def start_day(self) -> int:
        return (self.first_month - EPOCH).days

    @property
    def end_day(self) -> int:
        return (self.end - EPOCH).days

    @property
    def end_second(self) -> int:
        return self.end_day * DAY

    @property
    def last_month(self) -> dt.date:
        index = self.first_month.year * 12 + self.first_month.month - 1 + self.months - 1
        return dt.date(index // 12, index % 12 + 1, 1)

    @property
    def closed_months(self) -> int:
        """Months whose last day is over by `end`: they get month-end balance rows."""
        return int(np.count_nonzero(self.month_starts[1:] <= self.end_day))


def month_number(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day number."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def first_day_of_month_number(months: np.ndarray) -> np.ndarray:
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def add_months(days: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """Same day of month `count` months later, clipped to the end of a shorter month."""
    days = np.asarray(days, dtype=np.int64)
    day_of_month = days - first_day_of_month_number(month_number(days))
    target = month_number(days) + count
    target_first = first_day_of_month_number(target)
    target_length = first_day_of_month_number(target + 1) - target_first
    return target_first + np.minimum(day_of_month, target_length - 1)


def _uniform_days(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """One day in [low, high] (inclusive) per row; callers drop rows where high < low."""
    span = np.maximum(high - low + 1, 1)
    return low + np.floor(rng.random(len(low)) * span).astype(np.int64)


@dataclass
class Products:
    """Loans, investments or credit cards: one row per product, owners as customer indexes."""

    ids: pa.Array
    customer: np.ndarray
    cents: np.ndarray  # principal, invested amount or card limit
    start_day: np.ndarray
    end_day: np.ndarray  # -1: not ended
    status: np.ndarray  # code into the table's status vocabulary
    updated_second: np.ndarray
    rate: np.ndarray | None = None  # loans: annual interest rate
    payment_cents: np.ndarray | None = None  # loans: monthly annuity
    fee_cents: np.ndarray | None = None  # cards: monthly fee
    product: np.ndarray | None = None  # investments: code into INVESTMENT_PRODUCTS


@dataclass
class Population:
    period: Period
    # advisors
    advisor_ids: pa.Array
    advisor_firstname: np.ndarray
    advisor_surname: np.ndarray
    advisor_city: np.ndarray
    advisor_created_day: np.ndarray
    # customers
    customer_ids: pa.Array
    firstname: np.ndarray
    surname: np.ndarray
    signup_day: np.ndarray
    advisor: np.ndarray
    profile: np.ndarray  # level held at the end of the simulation (code into PROFILE_LEVELS)
    upgraded: np.ndarray  # bool: moved up one level during the period (at customer_updated_second)
    customer_updated_second: np.ndarray
    # money habits
    salary_cents: np.ndarray
    salary_day_of_month: np.ndarray
    employer: np.ndarray
    spend_ratio: np.ndarray  # monthly spending as a share of the salary
    activity: np.ndarray  # multiplier of how many card payments / withdrawals / transfers
    overspend_ratio: np.ndarray  # spending share inside the overspending window
    overspend_first: np.ndarray  # window of period month indexes [first, last)
    overspend_last: np.ndarray
    affluent_kind: np.ndarray
    subscription_merchant: np.ndarray  # (C, 4), -1 where none
    subscription_day_of_month: np.ndarray  # (C, 4)
    saving_account: np.ndarray  # account index of the savings account fed monthly, -1 none
    saving_cents: np.ndarray
    # accounts
    account_ids: pa.Array
    account_customer: np.ndarray
    account_type: np.ndarray
    account_open_day: np.ndarray
    account_updated_second: np.ndarray
    loans: Products
    investments: Products
    cards: Products

    @property
    def customer_count(self) -> int:
        return len(self.signup_day)

    @property
    def account_count(self) -> int:
        return len(self.account_open_day)

    @property
    def overspenders(self) -> np.ndarray:
        return self.overspend_last > self.overspend_first

    # -- Arrow tables with the source's column names ----------------------------------------
    def advisor_table(self) -> pa.Table:
        created = self.advisor_created_day
        return pa.table({
            "advisor_id": self.advisor_ids,
            "firstname": labels(FIRSTNAMES, self.advisor_firstname),
            "surname": labels(SURNAMES, self.advisor_surname),
            "city": labels(CITIES, self.advisor_city),
            "created_at": dates(created),
            "updated_at": timestamps(created * DAY + 8 * HOUR),
        })  # fmt: skip

    def customer_table(self) -> pa.Table:
        first = np.array([name.lower().translate(ASCII_FOLD) for name in FIRSTNAMES], dtype=object)
        last = np.array([name.lower().translate(ASCII_FOLD) for name in SURNAMES], dtype=object)
        # the customer's index makes the address unique whatever the names drawn
        emails = first[self.firstname] + "." + last[self.surname] + "." + np.arange(self.customer_count).astype(str)
        return pa.table({
            "customer_id": self.customer_ids,
            "firstname": labels(FIRSTNAMES, self.firstname),
            "surname": labels(SURNAMES, self.surname),
            "email": pa.array(emails + "@example.com", pa.string()),
            "signup_date": dates(self.signup_day),
            "profile_level": labels(PROFILE_LEVELS, self.profile),
            "advisor_id": self.advisor_ids.take(pa.array(self.advisor)),
            "updated_at": timestamps(self.customer_updated_second),
        })  # fmt: skip

    def account_table(self) -> pa.Table:
        count = self.account_count
        return pa.table({
            "account_id": self.account_ids,
            "customer_id": self.customer_ids.take(pa.array(self.account_customer)),
            "account_type": labels(ACCOUNT_TYPES, self.account_type),
            "currency": labels(["EUR"], np.zeros(count, dtype=np.int64)),
            "open_date": dates(self.account_open_day),
            "closed_date": dates(np.full(count, -1)),
            "updated_at": timestamps(self.account_updated_second),
        })  # fmt: skip

    def loan_table(self) -> pa.Table:
        loans = self.loans
        return pa.table({
            "loan_id": loans.ids,
            "customer_id": self.customer_ids.take(pa.array(loans.customer)),
            "amount": euros(loans.cents),
            "interest_rate": pa.array(loans.rate, pa.float64()),
            "start_date": dates(loans.start_day),
            "end_date": dates(loans.end_day),
            "status": labels(LOAN_STATUSES, loans.status),
            "updated_at": timestamps(loans.updated_second),
        })  # fmt: skip

    def investment_table(self) -> pa.Table:
        investments = self.investments
        return pa.table({
            "investment_id": investments.ids,
            "customer_id": self.customer_ids.take(pa.array(investments.customer)),
            "product_name": labels(INVESTMENT_PRODUCTS, investments.product),
            "amount": euros(investments.cents),
            "opened_at": dates(investments.start_day),
            "closed_at": dates(investments.end_day),
            "status": labels(INVESTMENT_STATUSES, investments.status),
            "updated_at": timestamps(investments.updated_second),
        })  # fmt: skip

    def credit_card_table(self) -> pa.Table:
        cards = self.cards
        return pa.table({
            "card_id": cards.ids,
            "customer_id": self.customer_ids.take(pa.array(cards.customer)),
            "amount_limit": euros(cards.cents),
            "fee": euros(cards.fee_cents),
            "start_date": dates(cards.start_day),
            "end_date": dates(cards.end_day),
            "status": labels(CARD_STATUSES, cards.status),
            "updated_at": timestamps(cards.updated_second),
        })  # fmt: skip


def generate_population(rng: np.random.Generator, customers: int, period: Period) -> Population:
    start, end = period.start_day, period.end_day
    last_active_day = end - 1

    # -- advisors: about one per 100 customers, at the bank before any customer -------------
    advisor_count = max(2, round(customers / 100))
    advisor_ids = uuid4_strings(rng, advisor_count)
    advisor_created = start - rng.integers(6 * 365, 8 * 365, advisor_count)

    # -- customers: a base signed up before the period, then sign-ups spread over every month --
    month_starts = period.month_starts
    open_months = np.flatnonzero(month_starts[:-1] <= last_active_day)  # months with a day to sign up in
    new_count = customers // 2 if len(open_months) else 0
    base_count = customers - new_count
    customer_ids = uuid4_strings(rng, customers)
    base_signup = start - rng.integers(1, 5 * 365, base_count)
    if new_count:
        month_of_signup = open_months[(np.arange(new_count) * len(open_months)) // new_count]
        first_day = month_starts[month_of_signup]
        last_day = np.minimum(month_starts[month_of_signup + 1] - 1, last_active_day)
        new_signup = _uniform_days(rng, first_day, last_day)
    else:
        new_signup = np.empty(0, dtype=np.int64)
    signup = np.concatenate([base_signup, new_signup]).astype(np.int64)

    # -- cohorts, drawn from the base so they are there for the whole period ------------------
    base_order = rng.permutation(base_count)
    cohort_size = min(max(3, round(0.05 * customers)), base_count // 3)
    affluent = base_order[:cohort_size]
    overspending = base_order[cohort_size : 2 * cohort_size]
    affluent_kind = np.zeros(customers, dtype=np.int64)
    affluent_kind[affluent] = np.arange(cohort_size) % 3 + 1  # each kind present
    is_overspender = np.zeros(customers, dtype=bool)
    is_overspender[overspending] = True
    regular = (affluent_kind == NOT_AFFLUENT) & ~is_overspender

    salary_euros = np.clip(rng.lognormal(np.log(2300), 0.35, customers), 1300, 7000)
    salary_euros[is_overspender] = rng.uniform(1400, 2800, is_overspender.sum())
    salary_euros[affluent_kind == HIGH_WITHDRAWALS] = rng.uniform(10_000, 18_000, (affluent_kind == 1).sum())
    rich_products = (affluent_kind == HIGH_LOAN) | (affluent_kind == HIGH_INVESTMENT)
    salary_euros[rich_products] = rng.uniform(5_000, 12_000, rich_products.sum())
    salary_cents = np.round(salary_euros * 100).astype(np.int64)
    salary_day = rng.integers(25, 29, customers)
    employer = rng.integers(0, len(EMPLOYERS), customers)

    spend_ratio = rng.uniform(0.72, 0.95, customers)
    spend_ratio[~regular] = rng.uniform(0.70, 0.85, (~regular).sum())
    activity = rng.uniform(0.6, 1.4, customers)
    overspend_ratio = rng.uniform(1.5, 1.9, customers)
    # the overspenders spend beyond their salary from the first month for at least 4 months
    # (or the whole period when shorter), then slowly recover
    overspend_first = np.zeros(customers, dtype=np.int64)
    overspend_last = np.zeros(customers, dtype=np.int64)
    overspend_last[overspending] = rng.integers(min(4, period.months), period.months + 1, cohort_size)

    # -- profiles: the affluent are gold or diamant; some customers move up one level ----------
    profile = rng.choice(3, customers, p=[0.75, 0.20, 0.05])
    profile[affluent] = rng.choice([1, 2], cohort_size, p=[0.4, 0.6])
    profile[overspending] = 0
    upgrade_from = np.maximum(signup + 1, start) * DAY
    upgrade_to = period.end_second
    upgraded = (rng.random(customers) < 0.15) & (profile < 2) & (upgrade_from < upgrade_to)
    upgrade_second = upgrade_from + np.floor(rng.random(customers) * (upgrade_to - upgrade_from)).astype(np.int64)
    profile = profile + upgraded
    signed_up_second = np.minimum(signup * DAY + rng.integers(8 * HOUR, 20 * HOUR, customers), period.end_second)
    customer_updated = np.where(upgraded, upgrade_second, signed_up_second)

    # -- accounts: a normal account at signup; some savings accounts --------------------------
    la_open = signup + rng.integers(0, 181, customers)
    has_la = (rng.random(customers) < np.where(affluent_kind > 0, 0.8, 0.4)) & ~is_overspender
    has_la &= la_open <= last_active_day
    lj_open = signup + rng.integers(0, 31, customers)
    has_lj = (rng.random(customers) < 0.1) & ~is_overspender & (lj_open <= last_active_day)
    la_owner, lj_owner = np.flatnonzero(has_la), np.flatnonzero(has_lj)
    account_customer = np.concatenate([np.arange(customers), la_owner, lj_owner])
    account_type = np.concatenate([np.zeros(customers), np.ones(len(la_owner)), np.full(len(lj_owner), 2)])
    account_open = np.concatenate([signup, la_open[la_owner], lj_open[lj_owner]]).astype(np.int64)
    account_count = len(account_customer)
    account_ids = uuid4_strings(rng, account_count)
    account_updated = np.minimum(
        account_open * DAY + rng.integers(9 * HOUR, 18 * HOUR, account_count), period.end_second
    )

    # savers move a fixed amount after payday to their LA, else their LJ; spending plus saving
    # stays under the salary so the normal account does not drift into overdraft
    saving_account = np.full(customers, -1, dtype=np.int64)
    saving_account[lj_owner] = customers + len(la_owner) + np.arange(len(lj_owner))
    saving_account[la_owner] = customers + np.arange(len(la_owner))
    saving_share = np.minimum(rng.uniform(0.04, 0.12, customers), 0.97 - spend_ratio)
    saving_cents = np.round(salary_cents * saving_share / 1000).astype(np.int64) * 1000
    feeds_livret_jeune = account_type_of(saving_account, account_type) == 2
    saving_cents[feeds_livret_jeune] = np.minimum(saving_cents[feeds_livret_jeune], 5000)  # a small booklet
    saving_account[saving_cents < 1000] = -1

    # -- subscriptions: 1 to 4 distinct merchants, each on a fixed day of the month ------------
    subscription_count = 1 + rng.binomial(3, 0.5, customers)
    merchants = np.argsort(rng.random((customers, len(SUBSCRIPTIONS))), axis=1)[:, :4]
    merchants[np.arange(4)[None, :] >= subscription_count[:, None]] = -1
    subscription_day = rng.integers(1, 29, (customers, 4))

    advisor_of_customer = rng.integers(0, advisor_count, customers)
    names = rng.integers(0, [len(FIRSTNAMES), len(SURNAMES)], (customers, 2))
    advisor_names = rng.integers(0, [len(FIRSTNAMES), len(SURNAMES), len(CITIES)], (advisor_count, 3))

    loans = _loans(rng, period, signup, affluent_kind, is_overspender)
    investments = _investments(rng, period, signup, affluent_kind, is_overspender)
    cards = _cards(rng, period, signup, affluent_kind, is_overspender)

    return Population(
        period=period,
        advisor_ids=advisor_ids,
        advisor_firstname=advisor_names[:, 0],
        advisor_surname=advisor_names[:, 1],
        advisor_city=advisor_names[:, 2],
        advisor_created_day=advisor_created,
        customer_ids=customer_ids,
        firstname=names[:, 0],
        surname=names[:, 1],
        signup_day=signup,
        advisor=advisor_of_customer,
        profile=profile,
        upgraded=upgraded,
        customer_updated_second=customer_updated,
        salary_cents=salary_cents,
        salary_day_of_month=salary_day,
        employer=employer,
        spend_ratio=spend_ratio,
        activity=activity,
        overspend_ratio=overspend_ratio,
        overspend_first=overspend_first,
        overspend_last=overspend_last,
        affluent_kind=affluent_kind,
        subscription_merchant=merchants,
        subscription_day_of_month=subscription_day,
        saving_account=saving_account,
        saving_cents=saving_cents,
        account_ids=account_ids,
        account_customer=account_customer,
        account_type=account_type.astype(np.int64),
        account_open_day=account_open,
        account_updated_second=account_updated,
        loans=loans,
        investments=investments,
        cards=cards,
    )


def account_type_of(account: np.ndarray, account_type: np.ndarray) -> np.ndarray:
    """The type code of each account index (-1 where the index is -1)."""
    return np.where(account >= 0, account_type[np.maximum(account, 0)], -1)


def _ended(end_day: np.ndarray, period: Period) -> np.ndarray:
    return (end_day >= 0) & (end_day < period.end_day)


def _loans(rng, period: Period, signup, affluent_kind, is_overspender) -> Products:
    customers = len(signup)
    start, last_active_day = period.start_day, period.end_day - 1
    regular = (rng.random(customers) < 0.12) & ~is_overspender & (affluent_kind != HIGH_LOAN)
    big = affluent_kind == HIGH_LOAN
    owner = np.concatenate([np.flatnonzero(regular), np.flatnonzero(big)])
    is_big = np.concatenate([np.zeros(regular.sum(), bool), np.ones(big.sum(), bool)])
    count = len(owner)
    # a loan starts after its owner's account opened (its money is paid into it); the big ones
    # start before the period or in its first days, so they are outstanding for months in it
    earliest = np.maximum(signup[owner] + 1, start - np.where(is_big, 4 * 365, 3 * 365))
    latest = np.where(is_big, np.minimum(start + 20, last_active_day), last_active_day)
    start_day = _uniform_days(rng, earliest, latest)
    keep = start_day <= latest
    cents = np.where(
        is_big,
        np.round(rng.uniform(50_000, 300_000, count) / 1000) * 100_000,
        np.round(rng.uniform(2_000, 40_000, count) / 100) * 10_000,
    ).astype(np.int64)
    rate = np.round(np.where(is_big, rng.uniform(0.015, 0.045, count), rng.uniform(0.025, 0.07, count)), 4)
    term = np.where(is_big, rng.integers(120, 301, count), rng.choice([12, 24, 36, 48, 60, 84], count))
    end_day = add_months(start_day, term)
    monthly_rate = rate / 12
    payment = np.round(cents * monthly_rate / (1 - (1 + monthly_rate) ** -term.astype(float))).astype(np.int64)
    ids = uuid4_strings(rng, count)
    closed = end_day < period.end_day
    updated = np.where(closed, end_day * DAY + 7 * HOUR, start_day * DAY + 11 * HOUR)
    keep_index = np.flatnonzero(keep)
    return Products(
        ids=ids.take(pa.array(keep_index)),
        customer=owner[keep],
        cents=cents[keep],
        start_day=start_day[keep],
        end_day=end_day[keep],
        status=closed[keep].astype(np.int64),
        updated_second=np.minimum(updated[keep], period.end_second),
        rate=rate[keep],
        payment_cents=payment[keep],
    )


def _investments(rng, period: Period, signup, affluent_kind, is_overspender) -> Products:
    customers = len(signup)
    start, last_active_day = period.start_day, period.end_day - 1
    regular = (rng.random(customers) < 0.08) & ~is_overspender & (affluent_kind != HIGH_INVESTMENT)
    big = affluent_kind == HIGH_INVESTMENT
    owner = np.concatenate([np.flatnonzero(regular), np.flatnonzero(big)])
    is_big = np.concatenate([np.zeros(regular.sum(), bool), np.ones(big.sum(), bool)])
    count = len(owner)
    earliest = np.maximum(signup[owner], start - np.where(is_big, 4 * 365, 3 * 365))
    latest = np.where(is_big, np.minimum(start + 20, last_active_day), last_active_day)
    opened = _uniform_days(rng, earliest, latest)
    keep = opened <= latest
    cents = np.where(
        is_big,
        np.round(rng.uniform(25_000, 400_000, count) / 1000) * 100_000,
        np.round(rng.uniform(1_000, 20_000, count) / 100) * 10_000,
    ).astype(np.int64)
    # some are cashed in during the period, after at least three months
    closed_at = _uniform_days(rng, np.maximum(opened + 90, start), np.full(count, last_active_day))
    closes = (rng.random(count) < 0.3) & ~is_big & (closed_at <= last_active_day)
    closed_at = np.where(closes, closed_at, -1)
    ids = uuid4_strings(rng, count)
    product = rng.integers(0, len(INVESTMENT_PRODUCTS), count)
    updated = np.where(closes, closed_at * DAY + 16 * HOUR, opened * DAY + 14 * HOUR)
    keep_index = np.flatnonzero(keep)
    return Products(
        ids=ids.take(pa.array(keep_index)),
        customer=owner[keep],
        cents=cents[keep],
        start_day=opened[keep],
        end_day=closed_at[keep],
        status=closes[keep].astype(np.int64),
        updated_second=np.minimum(updated[keep], period.end_second),
        product=product[keep],
    )


CARD_LIMITS_EUROS = np.array([500, 1_000, 2_000, 3_000, 5_000, 10_000])
CARD_FEES_CENTS = np.array([200, 300, 500, 800, 1_200, 1_500])  # the higher the limit, the higher the fee


def _cards(rng, period: Period, signup, affluent_kind, is_overspender) -> Products:
    customers = len(signup)
    last_active_day = period.end_day - 1
    share = np.where(affluent_kind > 0, 0.9, np.where(is_overspender, 0.7, 0.45))
    owner = np.flatnonzero(rng.random(customers) < share)
    count = len(owner)
    start_day = _uniform_days(rng, signup[owner], np.minimum(signup[owner] + 90, last_active_day))
    keep = start_day <= last_active_day
    tier = np.where(affluent_kind[owner] > 0, rng.integers(3, 6, count), rng.integers(0, 5, count))
    # cards expire after 2-4 years; some are cancelled earlier; the others are still active
    cancelled = rng.random(count) < 0.12
    end_day = np.where(
        cancelled, start_day + rng.integers(60, 701, count), add_months(start_day, rng.choice([24, 36, 48], count))
    )
    ended = _ended(end_day, period)
    ids = uuid4_strings(rng, count)
    updated = np.where(ended, end_day * DAY + 6 * HOUR, start_day * DAY + 12 * HOUR)
    keep_index = np.flatnonzero(keep)
    return Products(
        ids=ids.take(pa.array(keep_index)),
        customer=owner[keep],
        cents=CARD_LIMITS_EUROS[tier][keep] * 100,
        start_day=start_day[keep],
        end_day=np.where(ended, end_day, -1)[keep],
        status=ended[keep].astype(np.int64),
        updated_second=np.minimum(updated[keep], period.end_second),
        fee_cents=CARD_FEES_CENTS[tier][keep],
    )


# -- vocabularies shared with the transaction generator ---------------------------------------
EMPLOYERS = (
    "Airbus", "SNCF", "Carrefour", "Orange", "Renault", "Decathlon", "Capgemini", "AP-HP", "Ville de Lyon",
    "Thales", "L'Oréal", "Michelin", "La Poste", "Sanofi", "Dassault Systèmes", "Leroy Merlin",
)  # fmt: skip
# (merchant, monthly price in cents)
SUBSCRIPTIONS = (
    ("Netflix", 1349), ("Spotify", 1199), ("Free Mobile", 1999), ("EDF", 7400), ("Basic-Fit", 2999),
    ("Canal+", 2599), ("Amazon Prime", 699), ("SFR Box", 3499), ("Navigo", 8640), ("Deezer", 1199),
    ("Engie", 5800), ("MAIF Assurance", 4250),
)  # fmt: skip
