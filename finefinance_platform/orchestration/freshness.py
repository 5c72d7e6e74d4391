"""Freshness policies, applied to every asset in one place (`apply_freshness_policy`)."""

from datetime import timedelta

from dagster import AssetSpec, FreshnessPolicy

# Ingestion runs daily: raw tables older than a day and a bit are late.
DAILY = FreshnessPolicy.time_window(fail_window=timedelta(hours=30), warn_window=timedelta(hours=26))
# The month that just closed is materialized on the 1st: its marts are due by the 2nd at 06:00 UTC.
MONTH_CLOSE = FreshnessPolicy.cron(deadline_cron="0 6 2 * *", lower_bound_delta=timedelta(days=2))
# The intraday marts (dbt tag `live`) are due within 5 minutes of the source: the live job runs every
# 5 minutes, so a warning past 5 minutes since the last cycle; a failure a minute later, the time a
# cycle itself takes (~15 s at scale S), so a cycle running late is not reported as stale.
LIVE = FreshnessPolicy.time_window(fail_window=timedelta(minutes=6), warn_window=timedelta(minutes=5))
LIVE_TAG = "live"


def freshness_policy_for(spec: AssetSpec) -> FreshnessPolicy | None:
    if spec.key.path[0] == "marts" and LIVE_TAG in (spec.tags or {}):
        return LIVE
    if spec.partitions_def is not None:
        return MONTH_CLOSE
    return DAILY


def apply_freshness_policy(spec: AssetSpec) -> AssetSpec:
    if spec.freshness_policy is not None:  # a tighter policy set where it matters wins
        return spec
    return spec.replace_attributes(freshness_policy=freshness_policy_for(spec))
