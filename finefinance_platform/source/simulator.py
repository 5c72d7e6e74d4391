"""`finefinance simulate`: fill the operational source with a deterministic, realistic bank.

The same (customers, months, seed, start) always gives the same rows, UUIDs and timestamps
included: everything is drawn from numpy Generators seeded with `seed` (one for the population,
one per month for the transactions), and every date is derived from the simulated calendar,
never from the clock. The only use of the clock is where the period stops: `start=None` means the
period ends with the current month, which is filled up to the start of today (UTC).

What the bank does is described in `simulation_population` (who) and `simulation_transactions`
(what happens each month); `simulation_load` bulk-loads it; `simulation_trickle` keeps it alive.
Month-end balances (`banking.balance`) are computed here from the completed transactions, by booking
month, with integer-cent cumulative sums, so they agree with the transactions by construction.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import psycopg2
import psycopg2.errors
import pyarrow as pa
from tqdm import tqdm

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import add_months, current_month
from finefinance_platform.source.simulation_load import (
    copy_table,
    dates,
    drop_keys_and_indexes,
    euros,
    timestamps,
)
from finefinance_platform.source.simulation_population import DAY, Period, Population, generate_population
from finefinance_platform.source.simulation_transactions import MonthTransactions, generate_month
from finefinance_platform.source.tables import SOURCE_QUALIFIED_NAMES


class SimulationError(FineFinanceError):
    """The simulation cannot run as asked (a period in the future, a locked source...)."""


class SourceNotEmptyError(SimulationError):
    """The source already holds data and the caller did not ask to replace it."""


@dataclass(frozen=True)
class SimulationSummary:
    rows: dict[str, int]
    first_month: dt.date
    last_month: dt.date
    seconds: float

    def describe(self) -> str:
        lines = [f"simulated {self.first_month:%Y-%m} to {self.last_month:%Y-%m} in {self.seconds:.1f} s:"]
        width = max(len(table) for table in self.rows)
        lines += [f"  {table:<{width}}  {count:>12,}" for table, count in self.rows.items()]
        return "\n".join(lines)


def plan_period(months: int, start: dt.date | None = None, today: dt.date | None = None) -> Period:
    """The simulated months; activity runs up to the start of `today` (UTC), never later."""
    today = today or dt.datetime.now(dt.UTC).date()
    this_month = current_month(today)
    if months < 1:
        raise SimulationError(f"months={months}: simulate at least one month")
    first = start or add_months(this_month, -(months - 1))
    if first.day != 1:
        raise SimulationError(f"start={first} is not the first day of a month")
    last = add_months(first, months - 1)
    if last > this_month:
        raise SimulationError(
            f"{months} months from {first:%Y-%m} end in {last:%Y-%m}, after the current month "
            f"{this_month:%Y-%m}: the simulator does not invent the future (use an earlier --start "
            "or fewer --months)"
        )
    return Period(first_month=first, months=months, end=min(today, add_months(last, 1)))


def source_has_data(dsn: str) -> bool:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        return _has_data(cur)


def _has_data(cursor) -> bool:
    cursor.execute("select " + " or ".join(f"exists (select 1 from {table})" for table in SOURCE_QUALIFIED_NAMES))
    return bool(cursor.fetchone()[0])


class BalanceBook:
    """Net completed movements per account and booking month, turned into end-of-day balance rows."""

    def __init__(self, population: Population) -> None:
        self.population = population
        self.net_cents = np.zeros((population.account_count, population.period.months), dtype=np.int64)

    def record(self, month: MonthTransactions) -> None:
        # a transaction made in one month and booked in the next counts in the next: the month-end
        # balance of the month it was made in never includes it, so no closed month is restated
        month_start_seconds = self.population.period.month_starts.astype(np.int64) * DAY
        self.net_cents += month.net_cents_by_booking_month(self.population.account_count, month_start_seconds)

    def table(self) -> pa.Table:
        pop, period = self.population, self.population.period
        closed = period.closed_months
        month_end = period.month_starts[1 : closed + 1] - 1
        closing_cents = np.cumsum(self.net_cents[:, :closed], axis=1)  # accounts open at zero
        open_day = pop.account_open_day
        account, month = np.nonzero(open_day[:, None] <= month_end[None, :])
        written = (month_end[month] + 1) * DAY  # at the end of the day
        end_rows = {
            "account": account,
            "day": month_end[month],
            "cents": closing_cents[account, month],
            "updated": written,
        }
        # the row written when the account opened (0); a month-end row on that day says the same
        opening = np.flatnonzero(~np.isin(open_day, month_end))
        opening_rows = {
            "account": opening,
            "day": open_day[opening],
            "cents": np.zeros(len(opening), dtype=np.int64),
            "updated": pop.account_updated_second[opening],
        }
        rows = {key: np.concatenate([opening_rows[key], end_rows[key]]) for key in end_rows}
        order = np.lexsort((rows["day"], rows["account"]))
        # currency is left to the column default ('EUR')
        return pa.table({
            "account_id": pop.account_ids.take(pa.array(rows["account"][order])),
            "balance_date": dates(rows["day"][order]),
            "balance": euros(rows["cents"][order]),
            "updated_at": timestamps(rows["updated"][order]),
        })  # fmt: skip


def simulate(
    dsn: str,
    *,
    customers: int,
    months: int,
    seed: int,
    start: dt.date | None = None,
    replace: bool = False,
) -> SimulationSummary:
    """Fill the 8 source tables; refuses to touch a source holding data unless `replace`."""
    began = time.monotonic()
    if customers < 1:
        raise SimulationError(f"customers={customers}: simulate at least one customer")
    if seed < 0:
        raise SimulationError(f"seed={seed}: the seed is a non-negative integer")
    period = plan_period(months, start)
    try:
        with closing(psycopg2.connect(dsn)) as conn:
            rows = _fill(conn, period, customers=customers, seed=seed, replace=replace)
    except psycopg2.errors.LockNotAvailable as exc:
        raise SimulationError(
            "the source tables are in use by another session (an ingestion or a trickle?): "
            "try again when it has finished"
        ) from exc
    return SimulationSummary(
        rows=rows, first_month=period.first_month, last_month=period.last_month, seconds=time.monotonic() - began
    )


def _fill(conn, period: Period, *, customers: int, seed: int, replace: bool) -> dict[str, int]:
    rows = dict.fromkeys(SOURCE_QUALIFIED_NAMES, 0)
    with conn.cursor() as cur:
        cur.execute("set lock_timeout = '30s'")
        if _has_data(cur) and not replace:
            conn.rollback()
            raise SourceNotEmptyError(
                "the source already holds data: pass --replace to empty it and simulate again "
                "(or --if-empty to keep it)"
            )
        # one transaction: readers see the old data or the new, never half of it
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local timezone = 'UTC'")  # the CSV timestamps carry no zone: they are UTC
        cur.execute("set local maintenance_work_mem = '512MB'")
        cur.execute(f"truncate {', '.join(SOURCE_QUALIFIED_NAMES)} cascade")
        deferred = drop_keys_and_indexes(cur)

        population = generate_population(np.random.default_rng([seed, 0]), customers, period)
        book = BalanceBook(population)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy") as copier:
            # COPY runs in this thread while the next month is generated; at most one month
            # waits to be copied, so memory stays at about two months of rows
            def copy(table_name: str, table: pa.Table) -> Future:
                return copier.submit(copy_table, cur, table_name, table)

            population_tables = {
                "crm.advisor": population.advisor_table,
                "crm.customer": population.customer_table,
                "banking.account": population.account_table,
                "product.loan": population.loan_table,
                "product.investment": population.investment_table,
                "product.credit_card": population.credit_card_table,
            }
            for table_name in tqdm(population_tables, desc="customers and products", unit="table", file=sys.stderr):
                rows[table_name] = copy(table_name, population_tables[table_name]()).result()

            waiting: Future | None = None
            progress = tqdm(range(period.months), desc="transactions", unit="month", file=sys.stderr)
            for month_index in progress:
                month = generate_month(np.random.default_rng([seed, 1, month_index]), population, month_index)
                book.record(month)
                table = month.to_arrow(population.account_ids)
                if waiting is not None:
                    rows["banking.transaction"] += waiting.result()
                waiting = copy("banking.transaction", table)
                progress.set_postfix(rows=f"{rows['banking.transaction'] + len(month):,}")
            if waiting is not None:
                rows["banking.transaction"] += waiting.result()
            with tqdm(total=1, desc="month-end balances", unit="table", file=sys.stderr) as progress:
                rows["banking.balance"] = copy("banking.balance", book.table()).result()
                progress.update()

        restoring = tqdm(deferred.restore_statements(), desc="keys and indexes", unit="step", file=sys.stderr)
        for label, statement in restoring:
            restoring.set_postfix_str(label)
            cur.execute(statement)
        for table_name in SOURCE_QUALIFIED_NAMES:
            cur.execute(f"analyze {table_name}")
    conn.commit()
    return rows


def trickle(dsn: str, seed: int, interval_seconds: float = 1.0, max_batches: int | None = None):
    """Keep inserting and updating rows like a live bank; see `simulation_trickle`."""
    from finefinance_platform.source.simulation_trickle import run_trickle

    return run_trickle(dsn, seed=seed, interval_seconds=interval_seconds, max_batches=max_batches)
