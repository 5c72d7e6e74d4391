"""The simulator at scale XS against a real PostgreSQL: deterministic, consistent, every behaviour.

The business numbers (balances, streaks in the red, "high" months) are recomputed here from the
raw rows with pandas, following docs/business-definitions.md, independently of how the simulator computed them.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing

import pandas as pd
import psycopg2
import pytest

from finefinance_platform.source import simulator
from finefinance_platform.source.tables import SOURCE_QUALIFIED_NAMES

START = dt.date(2025, 1, 1)  # a pinned past period: the same rows whatever the day the tests run
MONTHS = 6
CUSTOMERS = 200
SEED = 7
PERIOD_END = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
MONTH_STARTS = pd.date_range("2025-01-01", periods=MONTHS, freq="MS")


def _simulate(dsn: str, seed: int = SEED, **options) -> simulator.SimulationSummary:
    options = {"customers": CUSTOMERS, "months": MONTHS, "start": START, **options}
    return simulator.simulate(dsn, seed=seed, **options)


def _query(dsn: str, sql: str, params=None) -> pd.DataFrame:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("set timezone = 'UTC'")  # timestamps as text (checksums) in one zone
        cur.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[column.name for column in cur.description])


def _scalar(dsn: str, sql: str, params=None):
    return _query(dsn, sql, params).iat[0, 0]


def _checksums(dsn: str) -> dict[str, str]:
    return {
        table: _scalar(dsn, f"select md5(string_agg(t::text, '|' order by t::text)) from {table} t")
        for table in SOURCE_QUALIFIED_NAMES
    }


@pytest.fixture(scope="module")
def xs(make_source_db):
    dsn = make_source_db("sim")
    return dsn, _simulate(dsn)


@pytest.fixture(scope="module")
def frames(xs):
    """The source's rows as DataFrames, money as integer cents for exact arithmetic."""
    dsn, _summary = xs
    transactions = _query(
        dsn,
        "select transaction_id, sender_account_id, receiver_account_id, transaction_date, booked_at, created_at,"
        " updated_at,"
        " (amount * 100)::bigint as cents, category, status, currency from banking.transaction",
    )
    accounts = _query(dsn, "select account_id, customer_id, account_type, currency, open_date from banking.account")
    customers = _query(dsn, "select * from crm.customer")
    return transactions, accounts, customers


def _completed_moves(transactions: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """One row per (account side, completed transaction): +cents for credits, −cents for debits."""
    done = transactions[transactions.status == "completed"]
    credits = done[done.receiver_account_id.notna()].assign(
        account_id=lambda d: d.receiver_account_id, delta=lambda d: d.cents
    )
    debits = done[done.sender_account_id.notna()].assign(
        account_id=lambda d: d.sender_account_id, delta=lambda d: -d.cents
    )
    moves = pd.concat([credits, debits])[["transaction_id", "account_id", "transaction_date", "booked_at", "delta",
                                          "category", "sender_account_id", "receiver_account_id"]]  # fmt: skip
    moves = moves.merge(accounts[["account_id", "customer_id"]], on="account_id")
    # a transaction counts in its booking month
    moves["month_start"] = moves.booked_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M").dt.start_time
    return moves


def _longest_streaks(flags: pd.DataFrame) -> pd.Series:
    """Per customer (rows) the longest run of consecutive True months (columns, in order)."""
    longest = pd.Series(0, index=flags.index)
    current = pd.Series(0, index=flags.index)
    for month in flags.columns:
        current = (current + 1).where(flags[month], 0)
        longest = longest.combine(current, max)
    return longest


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_another_seed_differs(xs, make_source_db):
    dsn, _summary = xs
    twin = make_source_db("twin")
    # a server whose sessions default to another time zone must store the same instants
    with closing(psycopg2.connect(twin)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(f"alter database {conn.info.dbname} set timezone = 'Pacific/Auckland'")
    _simulate(twin)
    assert _checksums(twin) == _checksums(dsn)

    other = make_source_db("other")
    _simulate(other, seed=SEED + 1)
    differing = {table for table, digest in _checksums(other).items() if digest != _checksums(dsn)[table]}
    assert differing == set(SOURCE_QUALIFIED_NAMES)


def test_summary_reports_what_was_written(xs):
    dsn, summary = xs
    assert (summary.first_month, summary.last_month) == (START, dt.date(2025, 6, 1))
    for table in SOURCE_QUALIFIED_NAMES:
        assert summary.rows[table] == _scalar(dsn, f"select count(*) from {table}"), table
    assert "banking.transaction" in summary.describe() and "2025-01 to 2025-06" in summary.describe()
    assert summary.seconds < 30


def test_constraints_and_indexes_are_back_after_the_bulk_load(xs, source_dsn):
    dsn, _summary = xs

    def schema_objects(database: str) -> set[tuple]:
        constraints = _query(
            database,
            "select conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated from pg_constraint"
            " where connamespace::regnamespace::text in ('crm', 'banking', 'product')",
        )
        indexes = _query(
            database, "select indexname, indexdef from pg_indexes where schemaname in ('crm', 'banking', 'product')"
        )
        return set(constraints.itertuples(index=False)) | set(indexes.itertuples(index=False))

    # the same keys, checks, validated foreign keys and indexes as a freshly migrated source
    fresh = schema_objects(source_dsn)
    assert any("FOREIGN KEY" in str(item) for item in fresh) and len(fresh) > 40
    assert schema_objects(dsn) == fresh


# -- balances ---------------------------------------------------------------------------------


def test_balance_rows_agree_with_the_completed_transactions(xs, frames):
    dsn, _summary = xs
    transactions, accounts, _customers = frames
    balances = _query(dsn, "select account_id, balance_date, (balance * 100)::bigint as cents from banking.balance")
    moves = _completed_moves(transactions, accounts)
    # independent recomputation: for every balance row, Σ credits − Σ debits booked up to the end of its day
    day_end = pd.to_datetime(balances.balance_date).dt.tz_localize("UTC") + pd.Timedelta(days=1)
    rows = balances.assign(day_end=day_end).reset_index().merge(moves, on="account_id", how="left")
    counted = rows[rows.booked_at < rows.day_end]
    expected = counted.groupby("index").delta.sum().reindex(balances.index, fill_value=0)
    assert (balances.cents == expected).all(), balances[balances.cents != expected]
    assert (balances.cents != 0).sum() > len(balances) / 2  # not a table of zeros

    # one row at each account's opening (0) and one at every month end after it
    month_ends = [dt.date(2025, m, 1) + pd.offsets.MonthEnd(0) for m in range(1, MONTHS + 1)]
    month_ends = [day.date() for day in month_ends]
    for account in accounts.itertuples():
        dates = set(balances.balance_date[balances.account_id == account.account_id])
        assert dates == {account.open_date} | {day for day in month_ends if day >= account.open_date}
    opening = balances.merge(accounts, on="account_id").query("balance_date == open_date")
    assert (opening.cents == 0).all()


# -- the calendar, the accounts, the constraints ------------------------------------------------


def test_transactions_fit_the_period_and_the_accounts(frames):
    transactions, accounts, _customers = frames
    assert transactions.transaction_date.min() >= pd.Timestamp(START, tz="UTC")
    assert transactions.transaction_date.max() < PERIOD_END
    assert (transactions.updated_at >= transactions.created_at).all()
    assert transactions.updated_at.max() <= PERIOD_END
    assert (transactions.created_at == transactions.transaction_date).all()
    assert (transactions.cents > 0).all() and (transactions.currency == "EUR").all()
    assert (accounts.currency == "EUR").all()
    opened = accounts.set_index("account_id").open_date
    for side in ("sender_account_id", "receiver_account_id"):
        used = transactions[transactions[side].notna()]
        day = used.transaction_date.dt.tz_convert("UTC").dt.date
        assert (day >= used[side].map(opened)).all(), side


def test_about_fifteen_completed_transactions_per_customer_and_month(frames):
    transactions, _accounts, _customers = frames
    completed = (transactions.status == "completed").sum()
    assert 11 * CUSTOMERS * MONTHS <= completed <= 19 * CUSTOMERS * MONTHS
    assert set(transactions.category) == {
        "salary", "subscription", "card_payment", "withdrawal", "transfer", "loan_payment", "reimbursement", "deposit",
    }  # fmt: skip


def test_pending_failed_and_late_booked_transactions(frames):
    transactions, _accounts, _customers = frames
    share = transactions.status.value_counts(normalize=True)
    assert 0.005 <= share["failed"] <= 0.05
    assert share["pending"] > 0 and share["pending"] + share["failed"] < 0.1
    # still pending: dated shortly before the end of the simulation, not booked by then
    pending = transactions[transactions.status == "pending"]
    assert (pending.updated_at == pending.created_at).all()
    # booked once, when completed: never while pending or failed, never before it was made
    completed = transactions.status == "completed"
    assert transactions.booked_at[~completed].isna().all() and transactions.booked_at[completed].notna().all()
    assert (transactions.booked_at[completed] >= transactions.transaction_date[completed]).all()
    assert (transactions.booked_at[completed] == transactions.updated_at[completed]).all()
    assert (transactions.booked_at[completed] == transactions.transaction_date[completed]).mean() > 0.9  # most at once
    # booked after their month closed: dated in its last days, booked a few days into the next
    date = transactions.transaction_date.dt.tz_convert("UTC").dt.tz_localize(None)
    updated = transactions.booked_at.dt.tz_convert("UTC").dt.tz_localize(None)
    next_month = date.dt.to_period("M").dt.start_time + pd.offsets.MonthBegin(1)
    late = transactions[completed & (updated >= next_month)]
    assert len(late) >= 20
    days_before_month_end = (next_month - date)[late.index]
    assert (days_before_month_end <= pd.Timedelta(days=40)).all()
    assert (days_before_month_end <= pd.Timedelta(days=5)).mean() > 0.5
    assert ((updated - date)[late.index] <= pd.Timedelta(days=40)).all()


# -- people, accounts, products -----------------------------------------------------------------


def test_advisors_and_sign_ups_every_month(xs, frames):
    dsn, _summary = xs
    _transactions, accounts, customers = frames
    advisors = _query(dsn, "select advisor_id, created_at from crm.advisor")
    assert len(advisors) == 2  # one per 100 customers, at least 2
    assert customers.advisor_id.isin(advisors.advisor_id).all()
    assert advisors.created_at.max() < customers.signup_date.min()
    signup = pd.to_datetime(customers.signup_date)
    before = (signup < pd.Timestamp(START)).sum()
    assert CUSTOMERS * 0.3 <= before <= CUSTOMERS * 0.7  # the base, signed up before the period
    per_month = signup[signup >= pd.Timestamp(START)].dt.to_period("M").value_counts()
    assert set(per_month.index.astype(str)) == {f"2025-{m:02d}" for m in range(1, MONTHS + 1)}
    assert per_month.min() >= 10
    # every customer has one normal account opened at signup; some also save on LA / LJ
    normal = accounts[accounts.account_type == "normal"].merge(customers, on="customer_id")
    assert len(normal) == CUSTOMERS and (normal.open_date == normal.signup_date).all()
    savers = accounts.account_type.value_counts()
    assert savers["LA"] >= CUSTOMERS * 0.2 and savers["LJ"] >= 3


def test_profile_upgrades_during_the_period(frames):
    _transactions, _accounts, customers = frames
    levels = customers.profile_level.value_counts()
    assert set(levels.index) == {"bronze", "gold", "diamant"} and levels["bronze"] > levels["diamant"]
    # an upgrade is an update after signup, within the period: the row holds the new level
    updated_day = customers.updated_at.dt.tz_convert("UTC").dt.date
    upgraded = customers[
        (updated_day > customers.signup_date) & (customers.updated_at >= pd.Timestamp(START, tz="UTC"))
    ]
    assert len(upgraded) >= 10
    assert set(upgraded.profile_level) <= {"gold", "diamant"}
    assert (customers.updated_at <= PERIOD_END).all()


def test_transfers_between_own_accounts_and_between_customers(frames):
    transactions, accounts, _customers = frames
    owner = accounts.set_index("account_id").customer_id
    transfers = transactions[transactions.category == "transfer"]
    assert transfers.sender_account_id.notna().all() and transfers.receiver_account_id.notna().all()
    same_customer = transfers.sender_account_id.map(owner) == transfers.receiver_account_id.map(owner)
    assert same_customer.sum() >= 50 and (~same_customer).sum() >= 50
    account_type = accounts.set_index("account_id").account_type
    own = transfers[same_customer]
    assert set(own.sender_account_id.map(account_type)) == {"normal"}
    assert set(own.receiver_account_id.map(account_type)) <= {"LA", "LJ"}
    # salaries come from outside (the employer) into the normal account
    salaries = transactions[transactions.category == "salary"]
    assert salaries.sender_account_id.isna().all()
    assert set(salaries.receiver_account_id.map(account_type)) == {"normal"}


def test_loans_investments_and_cards(xs):
    dsn, _summary = xs
    loans = _query(dsn, "select * from product.loan")
    assert loans.interest_rate.astype(float).between(0.01, 0.08).all()
    assert (loans.end_date > loans.start_date).all()
    assert (loans.status == "active").any()
    period_end = PERIOD_END.date()
    closed = loans[loans.status == "closed"]
    assert (closed.end_date < period_end).all() and (loans[loans.status == "active"].end_date >= period_end).all()
    assert (closed.end_date >= START).any()  # some loans end during the period
    cards = _query(dsn, "select * from product.credit_card")
    assert cards.fee.astype(float).between(2, 15).all()
    ended_in_period = cards[(cards.status == "expired") & (cards.end_date >= START)]
    assert len(ended_in_period) >= 1 and (cards[cards.status == "active"].end_date.isna()).all()
    investments = _query(dsn, "select * from product.investment")
    assert set(investments.product_name) == {"PEA", "life insurance"}
    closed_investments = investments[investments.status == "closed"]
    assert (closed_investments.closed_at >= START).any() and (closed_investments.closed_at < period_end).all()
    assert investments[investments.status == "active"].closed_at.isna().all()
    # loan repayments are monthly debits to the bank for customers who hold a loan
    repayers = set(_query(dsn, """
        select distinct a.customer_id from banking.transaction t join banking.account a
        on a.account_id = t.sender_account_id where t.category = 'loan_payment'"""
    ).customer_id)  # fmt: skip
    assert repayers and repayers <= set(loans.customer_id)


# -- the cohorts, by the definitions of docs/business-definitions.md -------------------------------------------------


def test_an_overspending_cohort_stays_in_the_red_for_months(frames):
    transactions, accounts, customers = frames
    moves = _completed_moves(transactions, accounts)
    monthly = moves.pivot_table(index="customer_id", columns="month_start", values="delta", aggfunc="sum")
    monthly = monthly.reindex(index=customers.customer_id, columns=MONTH_STARTS, fill_value=0).fillna(0)
    month_end_balance = monthly.cumsum(axis=1)
    signed_up = pd.DataFrame(
        {
            month: pd.to_datetime(customers.signup_date.values) <= month + pd.offsets.MonthEnd(0)
            for month in MONTH_STARTS
        },
        index=customers.customer_id,
    )
    in_the_red = (month_end_balance < 0) & signed_up
    streak = _longest_streaks(in_the_red)
    overspenders = streak[streak >= 3]
    assert CUSTOMERS * 0.03 <= len(overspenders) <= CUSTOMERS * 0.15
    # most customers are not: the red is a cohort, not the norm
    assert (streak == 0).mean() > 0.7


def test_an_affluent_cohort_is_high_for_three_months_or_more(xs, frames):
    dsn, _summary = xs
    transactions, accounts, customers = frames
    owner = accounts.set_index("account_id").customer_id
    moves = _completed_moves(transactions, accounts)
    debits = moves[moves.delta < 0]
    own_transfer = debits.sender_account_id.map(owner) == debits.receiver_account_id.map(owner)
    withdrawals = (
        debits[~own_transfer]
        .assign(delta=lambda d: -d.delta)
        .pivot_table(index="customer_id", columns="month_start", values="delta", aggfunc="sum")
        .reindex(index=customers.customer_id, columns=MONTH_STARTS)
        .fillna(0)
    )

    def held(table: str, start: str, end: str) -> pd.DataFrame:
        rows = _query(
            dsn, f"select customer_id, (amount * 100)::bigint as cents, {start} as s, {end} as e from {table}"
        )
        columns = {}
        for month in MONTH_STARTS:
            month_end = (month + pd.offsets.MonthEnd(0)).date()
            active = (rows.s <= month_end) & (rows.e.isna() | (rows.e >= month.date()))
            columns[month] = rows[active].groupby("customer_id").cents.sum()
        return pd.DataFrame(columns).reindex(customers.customer_id).fillna(0)

    loans = held("product.loan", "start_date", "end_date")
    investments = held("product.investment", "opened_at", "closed_at")
    high = {
        "withdrawals": withdrawals >= 5_000_00,
        "loans": loans >= 50_000_00,
        "investments": investments >= 25_000_00,
    }
    streaks = {kind: _longest_streaks(flags) for kind, flags in high.items()}
    candidates = set().union(*(set(streak[streak >= 3].index) for streak in streaks.values()))
    assert CUSTOMERS * 0.03 <= len(candidates) <= CUSTOMERS * 0.2
    for kind, streak in streaks.items():
        assert (streak >= 3).sum() >= 2, kind


# -- overwriting, the period, the trickle --------------------------------------------------------


def test_refuses_to_overwrite_without_replace(make_source_db):
    dsn = make_source_db("replace")
    first = simulator.simulate(dsn, customers=30, months=3, seed=1, start=START)
    assert simulator.source_has_data(dsn)
    with pytest.raises(simulator.SourceNotEmptyError, match="--replace"):
        simulator.simulate(dsn, customers=30, months=3, seed=2, start=START)
    assert _scalar(dsn, "select count(*) from banking.transaction") == first.rows["banking.transaction"]
    before = _checksums(dsn)
    again = simulator.simulate(dsn, customers=30, months=3, seed=1, start=START, replace=True)
    assert again.rows == first.rows and _checksums(dsn) == before  # emptied first, then the same rows
    other = simulator.simulate(dsn, customers=40, months=2, seed=3, start=START, replace=True)
    assert _scalar(dsn, "select count(*) from crm.customer") == 40 == other.rows["crm.customer"]


def test_empty_source_has_no_data(source_dsn):
    assert not simulator.source_has_data(source_dsn)


def test_period_ends_with_the_current_month_and_never_in_the_future():
    today = dt.date(2026, 11, 25)
    period = simulator.plan_period(24, None, today=today)
    assert (period.first_month, period.last_month, period.end) == (dt.date(2024, 12, 1), dt.date(2026, 11, 1), today)
    past = simulator.plan_period(6, START, today=today)
    assert (past.last_month, past.end, past.closed_months) == (dt.date(2025, 6, 1), dt.date(2025, 7, 1), 6)
    assert simulator.plan_period(24, None, today=today).closed_months == 23
    with pytest.raises(simulator.SimulationError, match="after the current month 2026-11"):
        simulator.plan_period(3, dt.date(2026, 10, 1), today=today)


def test_current_month_is_filled_up_to_today_only(make_source_db):
    dsn = make_source_db("now")
    summary = simulator.simulate(dsn, customers=20, months=2, seed=5)
    today = dt.datetime.now(dt.UTC).date()
    assert summary.last_month == today.replace(day=1)
    latest = _scalar(dsn, "select max(greatest(transaction_date, updated_at)) from banking.transaction")
    assert latest < dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    assert _scalar(dsn, "select max(balance_date) from banking.balance") < today


def test_trickle_inserts_and_updates_rows_with_increasing_updated_at(make_source_db, capsys):
    dsn = make_source_db("trickle")
    simulator.simulate(dsn, customers=60, months=3, seed=11, start=START)
    before = _scalar(dsn, "select max(updated_at) from banking.transaction")
    pending_before = set(
        _query(dsn, "select transaction_id from banking.transaction where status = 'pending'").transaction_id
    )
    assert pending_before

    started = _scalar(dsn, "select now()")
    summary = simulator.trickle(dsn, seed=11, interval_seconds=0, max_batches=3)

    assert summary.batches == 3
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    fresh = _query(dsn, "select transaction_id, status, booked_at, created_at, updated_at from banking.transaction"
                        " where updated_at > %s order by updated_at", (before,))  # fmt: skip
    inserted = fresh[~fresh.transaction_id.isin(pending_before) & (fresh.created_at > before)]
    settled = fresh[fresh.transaction_id.isin(pending_before)]
    assert len(inserted) >= 3 and len(settled) >= 3
    assert set(settled.status) <= {"completed", "failed"} and "completed" in set(settled.status)
    # booked when they complete (now), not when they were made; the others not at all
    booked = pd.concat([inserted, settled]).query("status == 'completed'")
    assert (booked.booked_at == booked.updated_at).all() and len(booked) >= 3
    assert fresh.query("status != 'completed'").booked_at.isna().all()
    # one commit per batch: three distinct, increasing now() values
    assert inserted.updated_at.nunique() == 3
    assert summary.inserted["banking.transaction"] == len(inserted)

    # the balances still agree with the transactions booked by their day
    mismatches = _scalar(dsn, """
        select count(*) from banking.balance b
        where b.balance <> coalesce((
            select sum(case when t.receiver_account_id = b.account_id then t.amount else -t.amount end)
            from banking.transaction t
            where b.account_id in (t.sender_account_id, t.receiver_account_id) and t.status = 'completed'
              and t.booked_at < (b.balance_date + 1)::timestamp at time zone 'UTC'), 0)""")  # fmt: skip
    assert mismatches == 0
    # a booking today changes no closed month's balance
    restated = _scalar(dsn, "select count(*) from banking.balance where updated_at > %s and balance_date < %s",
                       (started, dt.date(2025, 4, 1)))  # fmt: skip
    assert restated == 0


def test_trickle_needs_a_filled_source(source_dsn):
    with pytest.raises(simulator.FineFinanceError, match="simulate"):
        simulator.trickle(source_dsn, seed=1, interval_seconds=0, max_batches=1)
