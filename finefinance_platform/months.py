"""Month arithmetic: a month is the date of its first day (`date(2025, 3, 1)` is March 2025)."""

from __future__ import annotations

import datetime as dt

from finefinance_platform.errors import SettingsError


def parse_month(value: str, setting: str = "month") -> dt.date:
    """'2025-03' or '2025-03-01' -> date(2025, 3, 1); a clear error for anything else."""
    text = value.strip()
    for fmt in ("%Y-%m", "%Y-%m-%d"):
        try:
            parsed = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if parsed.day != 1:
            raise SettingsError(f"{setting}={value!r} is not the first day of a month")
        return parsed
    raise SettingsError(f"{setting}={value!r} is not a month (expected YYYY-MM)")


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def current_month(today: dt.date | None = None) -> dt.date:
    today = today or dt.datetime.now(dt.UTC).date()
    return today.replace(day=1)
