"""A failing blocking check stops the assets downstream of it, and the failure is alerted."""

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from finefinance_platform.runs.pipeline import PipelineFailed, run_pipeline
from finefinance_platform.settings import get_settings

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=1)


def test_raw_not_matching_the_source_stops_the_models(xs_clone):
    warehouse = xs_clone["warehouse"]
    with duckdb.connect(str(warehouse)) as con:
        # a row the source never had (a botched manual fix, a replayed file...)
        con.execute(
            "insert into raw.transaction select * replace (uuid()::varchar as transaction_id, amount + 1 as amount) "
            "from raw.transaction limit 1"
        )
        before = con.execute("select count(*), max(dbt_updated_at) from snapshots.snp_customer").fetchone()
        dim_before = con.execute("select count(*) from marts.dim_account").fetchone()

    instance = DagsterInstance.ephemeral()
    with pytest.raises(PipelineFailed, match="ingestion failed .*matches_source"):
        run_pipeline(get_settings(), echo=lambda *_: None, instance=instance)

    # ingestion materialized, nothing downstream of the failed check did
    assert instance.get_latest_materialization_event(AssetKey(["raw", "transaction"])) is not None
    for key in (["snapshots", "snp_customer"], ["marts", "dim_account"], ["delivery", "serving_copy"]):
        assert instance.get_latest_materialization_event(AssetKey(key)) is None, key

    with duckdb.connect(str(warehouse), read_only=True) as con:
        # the dbt step downstream of the failed check did not run: no snapshot, no table rebuilt
        assert con.execute("select count(*), max(dbt_updated_at) from snapshots.snp_customer").fetchone() == before
        assert con.execute("select count(*) from marts.dim_account").fetchone() == dim_before
        alerts = con.execute(
            "select kind, asset_key, check_name, message from audit.alerts order by alerted_at"
        ).fetchall()
    assert ("check_failure", "raw/transaction", "matches_source") in [a[:3] for a in alerts]
    message = next(a[3] for a in alerts if a[2] == "matches_source")
    assert "1 month(s) differ" in message
