"""The quarantine, visible in Dagster: how many raw rows were kept out of the marts, and why.

intermediate/quarantined_rows `quarantine_is_empty` (warning, not blocking): the good rows of the
same load have flowed; this says, per table and reason, how many did not, so a source that starts
sending bad rows is noticed the day it starts.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check

from finefinance_platform.warehouse import WarehouseResource

QUARANTINE_KEY = AssetKey(["intermediate", "quarantined_rows"])
EXAMPLES = 12

COUNTS_SQL = """
select table_name, reason, count(*) as row_count
from intermediate.quarantined_rows
group by table_name, reason
order by table_name, reason
"""


def describe_quarantine(counts: list[tuple[str, str, int]]) -> str:
    """'3 rows quarantined: loan 1 (ends_before_start 1); transaction 2 (...)'; pure, unit-tested."""
    if not counts:
        return "no row quarantined"
    by_table: dict[str, list[tuple[str, int]]] = {}
    for table, reason, count in counts:
        by_table.setdefault(table, []).append((reason, count))
    parts = [
        f"{table} {sum(c for _, c in reasons)} ({', '.join(f'{r} {c}' for r, c in reasons)})"
        for table, reasons in sorted(by_table.items())
    ]
    total = sum(count for _, _, count in counts)
    return f"{total} row{'s' if total != 1 else ''} quarantined: " + "; ".join(parts)


@asset_check(
    asset=QUARANTINE_KEY,
    blocking=False,
    description="no raw row was kept out of the marts (counts per table and reason otherwise)",
    pool="warehouse",
)
def quarantine_is_empty(warehouse: WarehouseResource) -> AssetCheckResult:
    counts = [(str(t), str(r), int(n)) for t, r, n in warehouse.query(COUNTS_SQL)]
    examples = warehouse.query(
        f"select table_name, row_key, reason from intermediate.quarantined_rows "
        f"order by table_name, reason, row_key limit {EXAMPLES}"
    )
    per_table: dict[str, int] = {}
    for table, _reason, count in counts:
        per_table[table] = per_table.get(table, 0) + count
    return AssetCheckResult(
        passed=not counts,
        severity=AssetCheckSeverity.WARN,
        description=describe_quarantine(counts),
        metadata={
            "quarantined_rows": sum(per_table.values()),
            **{f"quarantined_{table}": count for table, count in sorted(per_table.items())},
            "by_reason": MetadataValue.json([{"table": t, "reason": r, "rows": n} for t, r, n in counts]),
            "examples": MetadataValue.json([{"table": t, "key": k, "reason": r} for t, k, r in examples]),
        },
    )


quarantine_checks = [quarantine_is_empty]
