"""The one partitions definition: calendar months (UTC), completed months only."""

from __future__ import annotations

import datetime as dt
from functools import cache

from dagster import MonthlyPartitionsDefinition

from finefinance_platform.months import add_months
from finefinance_platform.settings import Settings


def monthly_partitions(settings: Settings) -> MonthlyPartitionsDefinition:
    """From the settings' first month (those the definitions load with); the same object for as long
    as the first month stays the same.

    end_offset=0: the newest partition is the last *completed* month; the current month is never
    materialized, because its statements and KPIs would change until it closes."""
    return _monthly_partitions(settings.first_month)


@cache
def _monthly_partitions(first_month: dt.date) -> MonthlyPartitionsDefinition:
    return MonthlyPartitionsDefinition(start_date=first_month.isoformat(), end_offset=0, timezone="UTC")


def month_window(start: dt.date, end: dt.date | None = None) -> dict[str, str]:
    """dbt vars for the half-open window [start, end): one month when end is omitted."""
    end = end or add_months(start, 1)
    return {"month_start": start.isoformat(), "month_end": end.isoformat()}
