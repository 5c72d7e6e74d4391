"""Issue 27: a closed month is the same whenever it is built (docs/reliability.md#reproducible-months).

The XS platform lives through three days of every kind of change the source makes (the simulator's
trickle, plus what it never does: profile downgrades, an advisor reassigned, names corrected,
products corrected and ended in a closed month, late and corrected bookings), each followed by
the runs a real day has (a live cycle, `finefinance run`, a closed month re-run with
`--from M --to M`, a backfill of a range as the UI launches it). Then every month is rebuilt from
scratch into a second warehouse from the same raw tables and customer snapshot, and every
month-grain mart and the issued statements must be identical, row for row. Finally, re-running
closed months whose inputs did not change must leave every mart and every issued statement as it was.
"""

from __future__ import annotations

import datetime as dt
import shutil
from contextlib import closing

import duckdb
import psycopg2
import pytest
from conftest import XS_FIRST_MONTH, XS_MONTHS
from helpers.environment import clone_source, instance_with_every_month_built, platform_env
from helpers.independent_marts import bank_from_source, compute_marts, versions_from_snapshot
from helpers.reliability import RUN_TIME_COLUMNS, fingerprint

from finefinance_platform.months import add_months

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=3)

MONTHS = [add_months(XS_FIRST_MONTH, i).isoformat() for i in range(XS_MONTHS)]
# what the rebuild starts from: the bank's rows as ingested (with dlt's state) and the customer
# snapshot, the only record of what a customer's profile, advisor and names were in the past
# (the source keeps the current row only)
INPUT_SCHEMAS = ("raw", "snapshots")
# statement_issues columns about the issuing, not the month: when, which version, why and what it
# corrected (a warehouse built over time has corrections the rebuild never needed), and the name
# printed when it was issued
ISSUE_TIME_COLUMNS = (
    "version",
    "issued_at",
    "reason",
    "replaces_version",
    "lines_added",
    "lines_removed",
    "lines_changed",
    "closing_before",
    "firstname",
    "surname",
)


def _quiet(*_args) -> None:
    pass


# -- the changes a day brings ------------------------------------------------------------------------


def _execute(dsn: str, statements: list[tuple[str, tuple]]) -> None:
    """Statements committed together, as the bank's systems would; each must change a row."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        for sql, params in statements:
            cur.execute(sql, params)
            assert cur.rowcount > 0, f"changed nothing: {sql} {params}"
        conn.commit()


def _one(dsn: str, sql: str, params: tuple = ()) -> tuple:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    assert row is not None, f"nothing found: {sql} {params}"
    return row


def _trickle(dsn: str, batches: int = 3) -> None:
    """The simulator's live day: bookings, pending ones completing, new customers with an account,
    profile upgrades, new loans, cards and investments, cards expiring."""
    from finefinance_platform.source.simulation_trickle import run_trickle

    run_trickle(dsn, seed=27, interval_seconds=0, max_batches=batches, echo=_quiet)


def _profile_change(customer_id: str, levels: dict[str, str]) -> tuple[str, tuple]:
    case = " ".join(f"when '{old}' then '{new}'" for old, new in levels.items())
    return (
        f"update crm.customer set profile_level = case profile_level {case} else profile_level end,"
        " updated_at = now() where customer_id = %s",
        (customer_id,),
    )


UPGRADE = {"bronze": "gold", "gold": "diamant", "diamant": "gold"}
DOWNGRADE = {"diamant": "gold", "gold": "bronze", "bronze": "gold"}


def _reassign_advisor(customer_id: str) -> tuple[str, tuple]:
    return (
        "update crm.customer c set advisor_id = (select min(a.advisor_id::text)::uuid from crm.advisor a"
        " where a.advisor_id <> c.advisor_id), updated_at = now() where customer_id = %s",
        (customer_id,),
    )


def _subjects(warehouse) -> dict[str, str]:
    """Customers the advisor lists show in closed months: the changes touch them."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        in_red = con.execute(
            "select customer_id from marts.advisor_budget_support group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()[0]
        candidate = con.execute(
            "select customer_id from marts.advisor_upgrade_candidates where customer_id <> ? "
            "group by 1 order by count(*) desc, 1 limit 1",
            [in_red],
        ).fetchone()[0]
        # a downgrade needs a profile above Bronze: a listed customer if one has it
        downgraded = con.execute(
            "select c.customer_id from marts.dim_customer c left join ("
            " select customer_id from marts.advisor_budget_support union all"
            " select customer_id from marts.advisor_upgrade_candidates) listed on listed.customer_id = c.customer_id"
            " where c.profile <> 'Bronze' and c.customer_id not in (?, ?) and c.signup_date < ?"
            " group by c.customer_id order by count(listed.customer_id) desc, 1 limit 1",
            [in_red, candidate, MONTHS[0]],
        ).fetchone()[0]
    return {"in_red": in_red, "candidate": candidate, "downgraded": downgraded}


def _day_one(dsn: str, who: dict[str, str]) -> None:
    _trickle(dsn)
    _execute(
        dsn,
        [
            _profile_change(who["in_red"], UPGRADE),
            _reassign_advisor(who["in_red"]),
            _profile_change(who["downgraded"], DOWNGRADE),
            # a misspelt surname corrected
            (
                "update crm.customer set surname = surname || '-Corrected', updated_at = now() where customer_id = %s",
                (who["candidate"],),
            ),
        ],
    )


def _day_two(dsn: str, who: dict[str, str]) -> str:
    """The day's changes; returns the first month they change: the investment closed back in a closed
    month is a change to an ended product's record, placed by its opening (late_data.py)."""
    _trickle(dsn)
    late_month, corrected_month = MONTHS[4], MONTHS[3]
    loan_id = _one(
        dsn,
        "select loan_id::text from product.loan where start_date >= %s and start_date < %s "
        "and (end_date is null or end_date > current_date) order by loan_id limit 1",
        (MONTHS[3], MONTHS[5]),
    )[0]
    investment_id, opened_at = _one(
        dsn,
        "select investment_id::text, opened_at from product.investment where closed_at is null and opened_at < %s "
        "order by investment_id limit 1",
        (late_month,),
    )
    account_id = _one(
        dsn,
        "select sender_account_id::text from banking.transaction where status = 'completed' "
        "and sender_account_id is not null and booked_at >= %s::date and booked_at < %s::date + interval '1 month' "
        "order by transaction_id limit 1",
        (late_month, late_month),
    )[0]
    corrected_id = _one(
        dsn,
        "select transaction_id::text from banking.transaction where status = 'completed' "
        "and booked_at >= %s::date + interval '2 days' and booked_at < %s::date + interval '1 month' "
        "order by transaction_id limit 1",
        (corrected_month, corrected_month),
    )[0]
    _execute(
        dsn,
        [
            # a loan's amount corrected (it changes every month since it started)
            ("update product.loan set amount = amount + 5000, updated_at = now() where loan_id = %s", (loan_id,)),
            # an investment found to have been closed in a closed month
            (
                "update product.investment set closed_at = %s::date + 10, status = 'closed', updated_at = now()"
                " where investment_id = %s",
                (late_month, investment_id),
            ),
            # a booking of a closed month reaching the source late, and one corrected
            (
                "insert into banking.transaction (transaction_id, sender_account_id, counterparty, transaction_date,"
                " booked_at, amount, currency, description, category, status, created_at, updated_at)"
                " values (gen_random_uuid(), %s, 'Late shop', %s::date + interval '12 days',"
                " %s::date + interval '12 days', 77.70, 'EUR', 'late card payment', 'card_payment', 'completed',"
                " now(), now())",
                (account_id, late_month, late_month),
            ),
            (
                "update banking.transaction set amount = amount + 10, updated_at = now() where transaction_id = %s",
                (corrected_id,),
            ),
            # the customer in the red moves again: a second new version in one week
            _profile_change(who["in_red"], DOWNGRADE),
        ],
    )
    return max(MONTHS[0], min(corrected_month, opened_at.replace(day=1).isoformat()))


def _day_three(dsn: str, who: dict[str, str]) -> None:
    _trickle(dsn)
    _execute(
        dsn,
        [
            # a first name corrected, the advisor reassigned again
            (
                "update crm.customer set firstname = firstname || 'e', updated_at = now() where customer_id = %s",
                (who["in_red"],),
            ),
            _reassign_advisor(who["candidate"]),
            _profile_change(who["candidate"], UPGRADE),
            # a new customer, with an account, today
            (
                "with added as (insert into crm.customer (customer_id, firstname, surname, email, signup_date,"
                " profile_level, advisor_id, updated_at) select gen_random_uuid(), 'Nina', 'Petit',"
                " 'nina.petit.27@example.com', current_date, 'bronze', min(advisor_id::text)::uuid, now()"
                " from crm.advisor returning customer_id)"
                " insert into banking.account (account_id, customer_id, account_type, currency, open_date,"
                " updated_at) select gen_random_uuid(), customer_id, 'normal', 'EUR', current_date, now() from added",
                (),
            ),
            # a card ending today
            (
                "update product.credit_card set status = 'expired', end_date = greatest(start_date, current_date),"
                " updated_at = now() where card_id = (select min(card_id::text)::uuid from product.credit_card"
                " where status = 'active')",
                (),
            ),
            # the investment closed on day two, its amount corrected now: an ended product's terms
            # change every month since it started, not from its end
            (
                "update product.investment set amount = amount + 1000, updated_at = now() where investment_id = ("
                " select min(investment_id::text)::uuid from product.investment"
                " where closed_at < current_date and status = 'closed')",
                (),
            ),
            # a sign-up date found to be wrong: the customer joined two months earlier (a closed month)
            (
                "update crm.customer set signup_date = signup_date - interval '2 months', updated_at = now()"
                " where customer_id = (select min(customer_id::text)::uuid from crm.customer"
                " where signup_date >= %s::date + interval '2 months' and signup_date < %s)",
                (MONTHS[0], MONTHS[-1]),
            ),
        ],
    )


# -- the runs a day has ------------------------------------------------------------------------------


def _ui_backfill(first: str, last: str, instance) -> None:
    """A backfill of `close_month` over a range, as the UI launches it: one run (the single-run
    backfill policy) with the range's tags, every asset of the job (statement files included)."""
    from finefinance_platform.definitions import code_location
    from finefinance_platform.orchestration.run_safety import RUNNER_TAGS
    from finefinance_platform.runs.pipeline import execute_quietly
    from finefinance_platform.settings import get_settings

    # the code location of this test's environment (the module's `defs` is the first import's)
    settings = get_settings()
    result = execute_quietly(
        code_location(settings).resolve_job_def("close_month"),
        settings,
        instance=instance,
        tags={
            **RUNNER_TAGS,
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success, f"the backfill of {first} .. {last} failed"


def _copy_warehouse(source, target) -> None:
    """A copy of a warehouse file, with what its write-ahead log holds written into it first."""
    with duckdb.connect(str(source)) as con:
        con.execute("checkpoint")
    target.parent.mkdir(exist_ok=True)
    shutil.copy(source, target)


def _monthly_marts() -> list[str]:
    """Every month-grain mart: the dbt models tagged `monthly` (Dagster's monthly partitions)."""
    from finefinance_platform.settings import get_settings
    from finefinance_platform.transformation.dbt_assets import dbt_models

    return sorted(key.path[-1] for key in dbt_models(get_settings()).monthly.keys if key.path[0] == "marts")


@pytest.fixture(scope="module")
def lived(xs_platform, tmp_path_factory):
    """The XS platform after three days of changes and runs, and a rebuild from scratch of its months."""
    from dagster import DagsterInstance

    from finefinance_platform.runs.live import run_live_cycle
    from finefinance_platform.runs.pipeline import run_pipeline
    from finefinance_platform.settings import get_settings

    root = tmp_path_factory.mktemp("reproducible")
    dsn = clone_source(xs_platform, "repro")
    warehouse = root / "built" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(xs_platform["warehouse"], warehouse)
    scratch = root / "scratch" / "warehouse.duckdb"
    monkeypatch = pytest.MonkeyPatch()
    try:
        # a home of its own: late-data marks, dbt's parse state and statement files stay with this warehouse
        monkeypatch.setenv("FINEFINANCE_HOME", str(root / "built-home"))
        with platform_env(monkeypatch, dsn, warehouse) as settings:
            instance = instance_with_every_month_built(MONTHS)
            who = _subjects(warehouse)

            def run(start: dt.date | None = None, end: dt.date | None = None) -> list[str]:
                return run_pipeline(get_settings(), start, end, echo=_quiet, instance=instance).months

            _day_one(dsn, who)
            run()  # the customer changes are dated today: no closed month is rebuilt for them
            month = dt.date.fromisoformat(MONTHS[2])
            assert run(month, month) == [MONTHS[2]]

            first_changed = _day_two(dsn, who)
            run_live_cycle(settings, echo=_quiet, instance=instance)
            assert run() == [month for month in MONTHS if month >= first_changed]

            _day_three(dsn, who)
            run_live_cycle(settings, echo=_quiet, instance=instance)
            run()
            _ui_backfill(MONTHS[3], MONTHS[-1], instance)

        # the same raw tables and snapshot, every other schema dropped, then every month from scratch
        _copy_warehouse(warehouse, scratch)
        with duckdb.connect(str(scratch)) as con:
            schemas = con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database()"
                " and schema_name not in ('main', 'information_schema', 'pg_catalog')"
            ).fetchall()
            for (schema,) in schemas:
                if schema not in INPUT_SCHEMAS:
                    con.execute(f'drop schema "{schema}" cascade')
            con.execute("checkpoint")
        monkeypatch.setenv("FINEFINANCE_HOME", str(root / "scratch-home"))
        with platform_env(monkeypatch, dsn, scratch) as settings:
            rebuilt = run_pipeline(settings, echo=_quiet, instance=DagsterInstance.ephemeral())
            assert rebuilt.months == MONTHS
    finally:
        monkeypatch.undo()
    return {"dsn": dsn, "warehouse": warehouse, "scratch": scratch, "root": root, "instance": instance, "who": who}


# -- comparing two warehouses month by month ---------------------------------------------------------


def _columns(con, catalog: str, schema: str, table: str) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_catalog = ? and table_schema = ?"
            " and table_name = ? order by ordinal_position",
            [catalog, schema, table],
        ).fetchall()
    ]


# each month-grain mart's grain besides month_start (its unique_combination_of_columns test): rows
# are paired on it, so a difference names the columns that differ
GRAIN = {
    "fct_transaction": ("transaction_id",),
    "fct_monthly_statement": ("account_id",),
    "fct_statement_line": ("account_id", "line_number"),
    "fct_customer_month": ("customer_id",),
    "advisor_budget_support": ("customer_id",),
    "advisor_upgrade_candidates": ("customer_id",),
    "kpi_monthly_growth": (),
    "kpi_customers_per_profile": ("profile",),
    "kpi_transactions_per_month": ("category",),
    "fct_customer_value": ("customer_id",),
    "value_tier_migrations": ("from_tier", "to_tier"),
    "advisor_value_actions": ("customer_id", "action"),
    "customer_risk_score": ("customer_id",),
    "statement_issues": ("customer_id", "version"),
}


def _month_differences(
    con, label: str, built: str, rebuilt: str, columns: list[str], grain: tuple, sides: tuple[str, str]
) -> list[str]:
    """Each month whose rows differ between the relations `built` and `rebuilt` (same `columns`),
    with the columns that differ on rows of the same key and the rows only one side has."""
    key = ("month_start", *grain)
    # null-safe: a tier migration's from_tier (new customers) or to_tier (gone) is NULL
    joined = " and ".join(f'a."{k}" is not distinct from b."{k}"' for k in key)
    values = [c for c in columns if c not in key]
    counts = ", ".join(
        f'count(*) filter (where a."{c}" is distinct from b."{c}" and a.month_start is not null'
        f' and b.month_start is not null) as "{c}"'
        for c in values
    )
    rows = con.execute(
        f"select coalesce(a.month_start, b.month_start) as month, count(*) filter (where b.month_start is null),"
        f" count(*) filter (where a.month_start is null), {counts}"
        f" from {built} as a full outer join {rebuilt} as b on {joined} group by 1 order by 1"
    ).fetchall()
    problems = []
    for month, only_built, only_rebuilt, *differing in rows:
        columns_differing = [c for c, n in zip(values, differing) if n]
        if not (only_built or only_rebuilt or columns_differing):
            continue
        example = con.execute(
            f"select * from {built} where month_start = ? except all select * from {rebuilt} where month_start = ?"
            " limit 1",
            [month, month],
        ).fetchall()
        problems.append(
            f"{label} {month}: columns {columns_differing} differ on rows of the same {', '.join(key)}; "
            f"{only_built} row(s) only {sides[0]}, {only_rebuilt} only {sides[1]} "
            f"(e.g. {dict(zip(columns, example[0])) if example else '-'})"
        )
    return problems


def _compare(
    built, rebuilt, *, issues_as_records: bool = False, sides=("as built over time", "in the rebuild")
) -> list[str]:
    """Every month-grain mart and the issued statements of two warehouses, month by month.

    The issued statements: the version a reader gets today (a warehouse built over time holds the
    corrections a rebuild never needed), or with `issues_as_records` every version, every column."""
    problems = []
    with duckdb.connect() as con:
        con.execute(f"attach '{built}' as built (read_only)")
        con.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
        marts = _monthly_marts()
        assert set(marts) <= set(GRAIN), f"a month-grain mart without its grain here: {set(marts) - set(GRAIN)}"
        for table in marts:
            columns = [c for c in _columns(con, "built", "marts", table) if c not in RUN_TIME_COLUMNS]
            assert columns == [c for c in _columns(con, "rebuilt", "marts", table) if c not in RUN_TIME_COLUMNS], table
            for side in ("built", "rebuilt"):
                con.execute(f"create temp view {side}_{table} as select {_listed(columns)} from {side}.marts.{table}")
            problems += _month_differences(
                con, f"marts.{table}", f"built_{table}", f"rebuilt_{table}", columns, GRAIN[table], sides
            )
        ignored = () if issues_as_records else ISSUE_TIME_COLUMNS
        columns = [c for c in _columns(con, "built", "delivery", "statement_issues") if c not in ignored]
        latest = (
            ""
            if issues_as_records
            else " qualify row_number() over (partition by customer_id, month_start order by version desc) = 1"
        )
        for side in ("built", "rebuilt"):
            con.execute(
                f"create temp view {side}_issued as select {_listed(columns)} "
                f"from {side}.delivery.statement_issues{latest}"
            )
        grain = GRAIN["statement_issues"] if issues_as_records else ("customer_id",)
        problems += _month_differences(
            con, "delivery.statement_issues", "built_issued", "rebuilt_issued", columns, grain, sides
        )
    return problems


def _listed(columns: list[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


def test_every_month_built_over_time_equals_a_rebuild_from_scratch(lived):
    problems = _compare(lived["warehouse"], lived["scratch"])
    assert not problems, "\n".join(problems)


def test_the_changes_reached_closed_months(lived):
    """The week's changes did touch closed months: the comparison above is not of two idle warehouses."""
    with duckdb.connect(str(lived["warehouse"]), read_only=True) as con:
        versions = con.execute(
            "select count(*) from delivery.statement_issues where version > 1 and month_start < ?", [MONTHS[-1]]
        ).fetchone()[0]
        history = con.execute(
            "select count(*) from snapshots.snp_customer where customer_id = ?", [lived["who"]["in_red"]]
        ).fetchone()[0]
    assert versions > 0  # corrections re-issued statements of closed months
    assert history >= 3  # the customer in the red has had three versions this week


def test_each_month_shows_its_customers_as_at_its_end(lived):
    """The independent computation (tests/helpers/independent_marts.py), given the snapshot's
    versions, agrees on who each customer was in each month: advisor, names and profile."""
    bank = bank_from_source(lived["dsn"], [_date(m) for m in MONTHS])
    bank.customer_versions = versions_from_snapshot(lived["scratch"])
    expected = compute_marts(bank)
    columns = {
        "advisor_budget_support": ("month_start", "customer_id", "advisor_id", "firstname", "surname", "profile"),
        "advisor_upgrade_candidates": ("month_start", "customer_id", "advisor_id", "firstname", "surname", "profile"),
        "fct_customer_month": ("month_start", "customer_id", "advisor_id"),
        "kpi_customers_per_profile": ("month_start", "profile", "customer_count"),
    }
    with duckdb.connect(str(lived["warehouse"]), read_only=True) as con:
        for table, listed in columns.items():
            actual = set(con.execute(f"select {', '.join(listed)} from marts.{table}").fetchall())
            assert actual == {tuple(row[c] for c in listed) for row in expected[table]}, table
    # the week's changes are in those months' successors only: closed months show the old values
    who = lived["who"]["in_red"]
    shown = {row["customer_id"]: row for row in bank.customers}[who]
    listed = [row for row in expected["advisor_budget_support"] if row["customer_id"] == who]
    assert listed and all(row["firstname"] != shown["firstname"] for row in listed)


def _date(text: str):
    return dt.date.fromisoformat(text)


def test_rerunning_closed_months_changes_nothing(lived):
    """Nothing changed at the source since the last run: a closed month re-run alone (carrying the
    month before), then every month in one run (recomputed from the history), rewrite the same rows
    and issue no new version of any statement; no other mart moves either."""
    from finefinance_platform.runs.pipeline import run_pipeline
    from finefinance_platform.settings import get_settings

    warehouse = lived["warehouse"]
    before = lived["root"] / "before-rerun" / "warehouse.duckdb"
    _copy_warehouse(warehouse, before)
    every_mart = fingerprint(before, ("marts",))
    monkeypatch = pytest.MonkeyPatch()
    try:
        monkeypatch.setenv("FINEFINANCE_HOME", str(lived["root"] / "built-home"))
        with platform_env(monkeypatch, lived["dsn"], warehouse):
            for first, last in ((MONTHS[1], MONTHS[1]), (MONTHS[0], MONTHS[-1])):
                bounds = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
                report = run_pipeline(get_settings(), *bounds, echo=_quiet, instance=lived["instance"])
                assert report.months == [m for m in MONTHS if first <= m <= last]
                problems = _compare(warehouse, before, issues_as_records=True, sides=("after it", "before it"))
                assert not problems, f"re-running {first[:7]} .. {last[:7]} changed:\n" + "\n".join(problems)
                assert fingerprint(warehouse, ("marts",)) == every_mart
    finally:
        monkeypatch.undo()
