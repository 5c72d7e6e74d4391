"""`dbt source freshness` as a Dagster check on each raw table.

The raw sources declare dbt freshness on the load time (models/staging/__sources.yml): warn after
26 h, error after 30 h, the same windows as Dagster's freshness policy on the raw assets. This check
runs dbt's own command after each ingestion and reports its verdict per table, so the dbt way and
the Dagster way of saying "late" are one and visible in one place. dagster-dbt has no builder for
this (its freshness-check builders were for Dagster's own policies), hence this small check.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    multi_asset_check,
)
from dagster_dbt import DbtCliResource

from finefinance_platform.source.tables import SOURCE_TABLES
from finefinance_platform.transformation.dbt_assets import keep_partial_parse

CHECK_NAME = "dbt_source_freshness"
RAW_KEYS = [AssetKey(["raw", table.name]) for table in SOURCE_TABLES]


def freshness_results(sources_json: dict) -> dict[str, dict]:
    """dbt's sources.json results by raw table name; pure, unit-tested."""
    results = {}
    for result in sources_json.get("results", []):
        # unique_id: source.<project>.<source>.<table>
        _, _, source, table = result["unique_id"].split(".", 3)
        if source == "raw":
            results[table] = result
    return results


def check_result(table: str, result: dict | None) -> AssetCheckResult:
    key = AssetKey(["raw", table])
    if result is None:
        return AssetCheckResult(
            asset_key=key, check_name=CHECK_NAME, passed=False, description=f"dbt reported nothing for raw.{table}"
        )
    status = result.get("status")
    age = result.get("max_loaded_at_time_ago_in_s")
    metadata = {"dbt_status": status, "max_loaded_at": str(result.get("max_loaded_at"))}
    if age is not None:
        metadata["hours_since_load"] = round(float(age) / 3600, 2)
    return AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=status == "pass",
        # dbt's warn is Dagster's warning; error (and a query that failed) is an error
        severity=AssetCheckSeverity.WARN if status == "warn" else AssetCheckSeverity.ERROR,
        description=result.get("message") or f"dbt source freshness: {status}",
        metadata=metadata,
    )


@multi_asset_check(
    specs=[
        AssetCheckSpec(CHECK_NAME, asset=key, blocking=False, description="dbt source freshness on the load time")
        for key in RAW_KEYS
    ],
    name="raw_source_freshness",
)
def raw_source_freshness(context: AssetCheckExecutionContext, dbt: DbtCliResource):
    invocation = dbt.cli(["source", "freshness", "--select", "source:raw"], raise_on_error=False).wait()
    keep_partial_parse(invocation)
    results = freshness_results(invocation.get_artifact("sources.json"))
    for check_key in context.selected_asset_check_keys:
        table = check_key.asset_key.path[-1]
        yield check_result(table, results.get(table))
