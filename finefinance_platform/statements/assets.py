"""Dagster assets of the statements: issued statements and their documents per month.

marts -> `delivery/statement_issues` (versions recorded in delivery.statement_issues) ->
`delivery/statement_documents` (the latest versions as files); the serving copy the readers use
(`delivery/serving_copy`) is serving/assets.py.

`statement_assets` and `statement_checks` are what `definitions.py` adds. The assets reach the
warehouse in use through the `warehouse` resource (`WarehouseResource`): the DuckDB file, or
Snowflake as the transformation identity (issuing writes delivery.statement_issues) or the
reporting identity (the documents only read, like every other reader).
"""

# no `from __future__ import annotations`: Dagster reads the context and resource annotations
import datetime as dt
from functools import cache

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

from finefinance_platform.months import add_months, current_month, parse_month
from finefinance_platform.orchestration.alerts import Alert, record_alert
from finefinance_platform.settings import Settings
from finefinance_platform.statements.export import export_month, files_in, statements_folder, statements_root
from finefinance_platform.statements.issuing.check import issue_problems
from finefinance_platform.statements.issuing.issue import IssueCounts, count_corrections, issue_month
from finefinance_platform.statements.issuing.issued import issued_months
from finefinance_platform.statements.model import NoStatementError
from finefinance_platform.statements.render import FORMATS
from finefinance_platform.transformation.partitions import monthly_partitions
from finefinance_platform.warehouse import WarehouseResource

STATEMENT_ISSUES_KEY = AssetKey(["delivery", "statement_issues"])
STATEMENT_DOCUMENTS_KEY = AssetKey(["delivery", "statement_documents"])

STATEMENT_MART_KEYS = [
    AssetKey(["marts", "fct_monthly_statement"]),
    AssetKey(["marts", "fct_statement_line"]),
    AssetKey(["marts", "dim_customer"]),
]


def _months(context) -> list[dt.date]:
    return [parse_month(key) for key in context.partition_keys]


ISSUES_CHECK = AssetCheckKey(STATEMENT_ISSUES_KEY, "issued_statements_match_the_marts")


# The check runs in the asset's own step (Dagster's in-op check): it compares the table, read back
# after issuing, with the statements issuing has just built from the marts, instead of building
# 48,000 statements a second time in a step of its own. Selected on its own (the UI's "Execute",
# `AssetSelection.checks`), it builds them from the marts itself.
def statement_issues(settings: Settings) -> AssetsDefinition:
    """Issuing, on the monthly partitions (made when the definitions load, one per partitions)."""
    return _statement_issues(monthly_partitions(settings))


@cache
def _statement_issues(partitions) -> AssetsDefinition:
    return multi_asset(
        name="statement_issues",
        specs=[
            AssetSpec(
                STATEMENT_ISSUES_KEY,
                deps=STATEMENT_MART_KEYS,
                group_name="delivery",
                kinds={"duckdb"},
                description=(
                    "Issued statements are records (delivery.statement_issues): version 1 of every statement of a "
                    "month when it is first built; version N+1, with the reason and what changed, of each statement "
                    "a rebuild changed; nothing for the others. Corrections alert operations."
                ),
            )
        ],
        check_specs=[
            AssetCheckSpec(
                ISSUES_CHECK.name,
                asset=STATEMENT_ISSUES_KEY,
                blocking=True,
                description=(
                    "Every statement of the marts is issued, and its latest issued version has its content (else the "
                    "marts changed without a new version); every stored content matches its recorded SHA-256."
                ),
            )
        ],
        partitions_def=partitions,
        # a backfill of many months is one run, like the marts it follows
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=True,
    )(issue_statements)


def issue_statements(context: AssetExecutionContext, warehouse: WarehouseResource):
    marts_sha256 = {}
    if STATEMENT_ISSUES_KEY in context.selected_asset_keys:
        counts = _issue(context, warehouse)
        marts_sha256 = {count.month: count.marts_sha256 for count in counts}
        yield MaterializeResult(asset_key=STATEMENT_ISSUES_KEY, metadata=_issue_metadata(counts))
    if ISSUES_CHECK in context.selected_asset_check_keys:
        yield issued_statements_match_the_marts(context, warehouse, marts_sha256)


def _issue(context: AssetExecutionContext, warehouse: WarehouseResource) -> list[IssueCounts]:
    months = sorted(_months(context))  # in order: a correction of a month carries into the next ones
    cause = f"run {context.run.run_id[:8]}"
    with warehouse.session() as con:
        counts = [issue_month(con, month, cause=cause) for month in months]
    for count in counts:
        context.log.info(
            f"{count.month:%Y-%m}: {count.first_issues} issued, {count.corrections} corrected, "
            f"{count.unchanged} unchanged" + (f", {count.vanished} no longer in the marts" if count.vanished else "")
        )
    corrections = count_corrections(counts)
    if corrections:
        # after the warehouse connection is closed: the alert path writes audit.alerts in the warehouse
        alert_corrections(corrections, warehouse.settings, context.run.run_id)
    return counts


def _issue_metadata(counts: list[IssueCounts]) -> dict:
    return {
        "first_issues": sum(c.first_issues for c in counts),
        "corrections": sum(c.corrections for c in counts),
        "unchanged": sum(c.unchanged for c in counts),
        "no_longer_in_marts": sum(c.vanished for c in counts),
        "months": ", ".join(f"{c.month:%Y-%m}" for c in counts),
    }


def alert_corrections(corrections: dict[str, int], settings: Settings, run_id: str | None = None) -> None:
    """Tell operations how many corrected statements were issued (log, audit.alerts, Slack)."""
    total = sum(corrections.values())
    per_month = ", ".join(f"{month}: {count}" for month, count in sorted(corrections.items()))
    record_alert(
        Alert(
            "statement_corrections",
            "WARN",
            f"{total} corrected statement(s) issued ({per_month}): customers now download the new versions; "
            "see delivery.statement_issues for the reasons",
            run_id=run_id,
            asset_key=STATEMENT_ISSUES_KEY.to_user_string(),
        ),
        settings,
    )


def issued_statements_match_the_marts(
    context: AssetExecutionContext, warehouse: WarehouseResource, marts_sha256: dict[dt.date, dict[str, str]]
) -> AssetCheckResult:
    """The check `ISSUES_CHECK`: the months of the run, or every month when run on its own.
    `marts_sha256` holds, per month just issued, the SHA-256 of every statement the marts give."""
    total, sample = 0, []
    # as the reporting identity, like every reader
    with warehouse.session("reporting") as con:
        months = _checked_months(context, con)
        if not (context.has_partition_key_range or context.has_partition_key):
            # on its own: also the months issued earlier that the marts no longer have
            months = sorted(set(months) | set(issued_months(con)))
        for month in months:
            count, problems = issue_problems(con, month, marts_sha256=marts_sha256.get(month))
            total += count
            sample += problems[: max(0, 10 - len(sample))]
    return AssetCheckResult(
        asset_key=STATEMENT_ISSUES_KEY,
        check_name=ISSUES_CHECK.name,
        passed=total == 0,
        severity=AssetCheckSeverity.ERROR,
        description=(f"{total} problem(s): " + "; ".join(sample)) if total else None,
        metadata={
            "months_checked": len(months),
            "problems": total,
            "problem_sample": "; ".join(sample) or "none",
        },
    )


def statement_documents(settings: Settings) -> AssetsDefinition:
    """The statement files, on the monthly partitions (made when the definitions load, one per partitions)."""
    return _statement_documents(monthly_partitions(settings))


@cache
def _statement_documents(partitions) -> AssetsDefinition:
    return asset(
        key=STATEMENT_DOCUMENTS_KEY,
        deps=[STATEMENT_ISSUES_KEY],
        partitions_def=partitions,
        # a backfill of many months is one run, like the marts it follows
        backfill_policy=BackfillPolicy.single_run(),
        group_name="delivery",
        kinds={"pdf", "csv"},
        description=(
            "Every customer's monthly statement, PDF and CSV: the latest issued version, rendered into "
            "<statements>/YYYY-MM/<customer_id>.pdf|.csv, <statements> being FINEFINANCE_STATEMENTS_URL "
            "(an object store such as s3://bucket/statements) or <FINEFINANCE_HOME>/statements."
        ),
    )(render_statement_documents)


def render_statement_documents(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    months = _months(context)
    settings = warehouse.settings
    customers = rendered = files = 0
    seconds = 0.0
    # the warehouse itself, not the serving copy: that copy is published after this asset
    with warehouse.session("reporting") as con:
        for month in months:
            try:
                result = export_month(con, month, statements_folder(month, settings), FORMATS, progress=False)
            except NoStatementError:
                # a month before the first account: nothing to send (the check says if that is wrong)
                statements_folder(month, settings).mkdir(parents=True, exist_ok=True)
                context.log.warning(f"no statements to render for {month:%Y-%m}")
                continue
            context.log.info(
                f"{month:%Y-%m}: {result.rendered} of {result.customers} statements rendered in "
                f"{result.seconds:.1f} s (the others' files already held their issued version) -> {result.folder}"
            )
            customers, rendered = customers + result.customers, rendered + result.rendered
            files, seconds = files + result.files, seconds + result.seconds
    folder = statements_folder(months[0], settings) if len(months) == 1 else statements_root(settings)
    return MaterializeResult(
        metadata={
            "count": customers,
            "rendered": rendered,
            "files": files,
            "folder": MetadataValue.path(str(folder)),
            "months": ", ".join(f"{month:%Y-%m}" for month in months),
            "statements_per_second": round(rendered / seconds, 1) if seconds and rendered else 0.0,
        }
    )


def customers_with_open_accounts(con, month: dt.date) -> list[str]:
    """Customers who held an account at some point of the month: each must get a statement."""
    columns = {
        name
        for (name,) in con.execute(
            "select lower(column_name) from information_schema.columns "
            "where lower(table_schema) = 'marts' and lower(table_name) = 'dim_account'"
        ).fetchall()
    }
    # closed_date is not in the contract; honour it when the mart has it
    still_open = "and (closed_date is null or closed_date >= ?)" if "closed_date" in columns else ""
    params = [add_months(month, 1), *([month] if still_open else [])]
    rows = con.execute(
        f"select distinct cast(customer_id as varchar) from marts.dim_account where open_date < ? {still_open}",
        params,
    ).fetchall()
    return sorted(customer_id for (customer_id,) in rows)


def _checked_months(context: AssetExecutionContext | AssetCheckExecutionContext, con) -> list[dt.date]:
    """The run's months when it has some (the check runs with the asset), else every closed month with data."""
    if context.has_partition_key_range or context.has_partition_key:
        return _months(context)
    rows = con.execute(
        "select distinct month_start from marts.fct_monthly_statement where month_start < ? order by 1",
        [current_month()],
    ).fetchall()
    return [month for (month,) in rows]


# Not a partitioned check (those are a preview feature in Dagster 1.13): it checks the months of the
# run it is part of, or every closed month when run on its own.
@asset_check(
    asset=STATEMENT_DOCUMENTS_KEY,
    description="Every customer with an account open in the month has a PDF and a CSV statement file.",
)
def every_customer_has_a_statement(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    expected_total, missing = 0, []
    with warehouse.session("reporting") as con:
        for month in _checked_months(context, con):
            present = files_in(statements_folder(month, warehouse.settings))
            customers = customers_with_open_accounts(con, month)
            expected_total += len(customers)
            missing += [
                f"{month:%Y-%m}/{customer_id}.{fmt}"
                for customer_id in customers
                for fmt in FORMATS
                if f"{customer_id}.{fmt}" not in present
            ]
    return AssetCheckResult(
        passed=not missing,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "customers_expected": expected_total,
            "missing_files": len(missing),
            "missing_sample": ", ".join(missing[:10]) or "none",
        },
    )


def statement_assets(settings: Settings) -> list[AssetsDefinition]:
    return [statement_issues(settings), statement_documents(settings)]


# the check of the issued statements is in `statement_issues` itself (ISSUES_CHECK)
statement_checks = [every_customer_has_a_statement]
