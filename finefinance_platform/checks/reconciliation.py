"""Checks that reconcile the money across systems or across marts.

Rules inside one mart's own rows are dbt tests, which reach Dagster as checks of the same asset
(the statement arithmetic, opening = previous closing, lines = totals: fct_monthly_statement.yml and
fct_statement_line.yml; profile counts = customers signed up: kpi_customers_per_profile.yml). The
checks here compare what dbt cannot see or what two layers say:

- raw/<table> `matches_source`: row count and amount sum per month equal the source's (blocking).
- marts/fct_monthly_statement `balance_table_agrees`: the core system's month-end rows in
  banking.balance (as staging reads them) equal the balances computed from transactions (error,
  not blocking: the statements follow the definition, the disagreement is the source's and is reported, never hidden).
- marts/kpi_transactions_per_month `kpis_match_transactions`: each completed transaction counted
  once, amounts equal (blocking).
"""

from contextlib import closing
from decimal import Decimal

import psycopg2
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from finefinance_platform.source.tables import SOURCE_TABLES, SourceTable
from finefinance_platform.warehouse import WarehouseResource

MAX_LISTED = 12  # mismatches shown in the check's metadata; the count is always complete


def _source_month_sql(table: SourceTable) -> str:
    month = (
        f"to_char(date_trunc('month', {table.month_column} at time zone 'UTC'), 'YYYY-MM-DD')"
        if table.month_column == "transaction_date"
        else f"to_char(date_trunc('month', {table.month_column}), 'YYYY-MM-DD')"
        if table.month_column
        else "'all'"
    )
    amount = f"coalesce(sum({table.amount_column}), 0)" if table.amount_column else "0"
    return f"select {month} as month, count(*), {amount}, max(updated_at) from {table.qualified_name} group by 1"


def _raw_month_sql(table: SourceTable) -> str:
    month = f"strftime(date_trunc('month', {table.month_column}), '%Y-%m-%d')" if table.month_column else "'all'"
    # raw money may be FLOAT (Airbyte's Snowflake destination writes every numeric so): each value is
    # cast back to its exact cents before summing, as staging does, so the sum is exact, not a
    # float sum a fraction of a cent off. Every reconciled column has 2 decimals (sql/postgres).
    amount = f"coalesce(sum(cast({table.amount_column} as decimal(38, 2))), 0)" if table.amount_column else "0"
    # ingestion is at least once: a key delivered twice is one row of the source, as staging reads it
    key = ", ".join(table.primary_key)
    return (
        f"select {month} as month, count(*), {amount}, max(updated_at) from ("
        f"select * from raw.{table.name} "
        f"qualify row_number() over (partition by {key} order by updated_at desc) = 1"
        f") as latest group by 1"
    )


def compare_months(source: dict, raw: dict) -> list[dict]:
    """Months whose (count, sum) differ between source and raw; pure, unit-tested."""
    mismatches = []
    for month in sorted(set(source) | set(raw)):
        src = source.get(month, (0, Decimal(0)))
        dst = raw.get(month, (0, Decimal(0)))
        if src[0] != dst[0] or Decimal(str(src[1])) != Decimal(str(dst[1])):
            mismatches.append(
                {
                    "month": month,
                    "source_rows": src[0],
                    "raw_rows": dst[0],
                    "source_sum": str(src[1]),
                    "raw_sum": str(dst[1]),
                }
            )
    return mismatches


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            name="matches_source",
            asset=AssetKey(["raw", table.name]),
            blocking=True,
            description=f"raw.{table.name} has the rows and amounts of {table.qualified_name}, month by month",
        )
        for table in SOURCE_TABLES
    ],
    can_subset=True,
    name="raw_matches_source",
    pool="warehouse",
)
def raw_matches_source(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings
    selected = {key.asset_key.path[-1] for key in context.selected_asset_check_keys}
    with closing(psycopg2.connect(settings.source_url(reader=True))) as src, warehouse.connect() as wh:
        wh.execute("set TimeZone = 'UTC'")
        for table in SOURCE_TABLES:
            if table.name not in selected:
                continue
            with src.cursor() as cur:
                cur.execute(_source_month_sql(table))
                source_rows = cur.fetchall()
            raw_rows = wh.execute(_raw_month_sql(table)).fetchall()
            source = {r[0]: (r[1], r[2]) for r in source_rows}
            raw = {r[0]: (r[1], r[2]) for r in raw_rows}
            mismatches = compare_months(source, raw)
            source_latest = max((r[3] for r in source_rows), default=None)
            raw_latest = max((r[3] for r in raw_rows), default=None)
            # rows written after the ingestion's cursor are not an ingestion fault: warn, re-ingest
            source_moved_on = source_latest is not None and (raw_latest is None or source_latest > raw_latest)
            severity = AssetCheckSeverity.WARN if source_moved_on else AssetCheckSeverity.ERROR
            yield AssetCheckResult(
                asset_key=AssetKey(["raw", table.name]),
                check_name="matches_source",
                passed=not mismatches,
                severity=severity,
                description=(
                    f"{len(mismatches)} month(s) differ between {table.qualified_name} and raw.{table.name}"
                    + (" (the source changed after this ingestion)" if mismatches and source_moved_on else "")
                    if mismatches
                    else f"raw.{table.name} matches {table.qualified_name}"
                ),
                metadata={
                    "months_compared": len(set(source) | set(raw)),
                    "source_rows": sum(v[0] for v in source.values()),
                    "raw_rows": sum(v[0] for v in raw.values()),
                    "mismatched_months": len(mismatches),
                    "mismatches": MetadataValue.json(mismatches[:MAX_LISTED]),
                },
            )


# the balances as staging reads them: latest version of each row, quarantined ones left out
BALANCE_TABLE_SQL = """
select b.account_id, b.balance_date, b.balance, s.closing_balance
from staging.stg_balance b
join marts.fct_monthly_statement s
    on s.account_id = b.account_id
   and b.balance_date = cast(s.month_start + interval 1 month - interval 1 day as date)
where b.balance <> s.closing_balance
order by b.balance_date, b.account_id
"""


@asset_check(
    asset=AssetKey(["marts", "fct_monthly_statement"]),
    blocking=False,
    description="banking.balance month-end rows equal the balances computed from completed transactions",
    pool="warehouse",
)
def balance_table_agrees(warehouse: WarehouseResource) -> AssetCheckResult:
    rows = warehouse.query(BALANCE_TABLE_SQL)
    compared = warehouse.query(
        "select count(*) from staging.stg_balance b join marts.fct_monthly_statement s "
        "on s.account_id = b.account_id "
        "and b.balance_date = cast(s.month_start + interval 1 month - interval 1 day as date)"
    )[0][0]
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        description=f"{len(rows)} of {compared} month-end balance rows disagree with the transactions",
        metadata={
            "rows_compared": compared,
            "disagreements": len(rows),
            "examples": MetadataValue.json(
                [
                    {
                        "account_id": r[0],
                        "balance_date": str(r[1]),
                        "source_balance": str(r[2]),
                        "computed_balance": str(r[3]),
                    }
                    for r in rows[:MAX_LISTED]
                ]
            ),
        },
    )


KPI_TRANSACTIONS_SQL = """
with facts as (
    select month_start, count(*) as n, sum(amount) as amount, count(distinct transaction_id) as distinct_n
    from marts.fct_transaction group by 1
),
kpi as (
    select month_start, sum(transaction_count) as n, sum(transaction_amount) as amount
    from marts.kpi_transactions_per_month group by 1
)
select coalesce(f.month_start, k.month_start), f.n, f.distinct_n, f.amount, k.n, k.amount
from facts f full outer join kpi k on k.month_start = f.month_start
where f.n is distinct from k.n or f.amount is distinct from k.amount or f.n <> f.distinct_n
"""


@asset_check(
    asset=AssetKey(["marts", "kpi_transactions_per_month"]),
    blocking=True,
    description="transactions per month count each completed transaction once, with its amount",
    pool="warehouse",
)
def kpis_match_transactions(warehouse: WarehouseResource) -> AssetCheckResult:
    rows = warehouse.query(KPI_TRANSACTIONS_SQL)
    return _months_differing(rows, "the KPI differs from the completed transactions", AssetCheckSeverity.ERROR)


def _months_differing(rows: list[tuple], what: str, severity: AssetCheckSeverity) -> AssetCheckResult:
    """A check result from the months a query found differing (none: passed)."""
    return AssetCheckResult(
        passed=not rows,
        severity=severity,
        description=f"{len(rows)} month(s) where {what}",
        metadata={
            "months_differing": len(rows),
            "examples": MetadataValue.json([[str(v) for v in r] for r in rows[:MAX_LISTED]]),
        },
    )


money_checks = [
    raw_matches_source,
    balance_table_agrees,
    kpis_match_transactions,
]
