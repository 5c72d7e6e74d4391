"""Pure functions of the orchestration: partition windows, months to build, reconciliation diff."""

import datetime as dt
from decimal import Decimal

import pytest

from finefinance_platform.checks.reconciliation import compare_months
from finefinance_platform.errors import SettingsError
from finefinance_platform.months import add_months, parse_month
from finefinance_platform.runs.pipeline import months_to_build
from finefinance_platform.settings import load_settings
from finefinance_platform.transformation.partitions import month_window

MONTHS = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]


def test_month_window_is_half_open():
    assert month_window(dt.date(2024, 12, 1)) == {"month_start": "2024-12-01", "month_end": "2025-01-01"}
    assert month_window(dt.date(2024, 1, 1), dt.date(2024, 4, 1)) == {
        "month_start": "2024-01-01",
        "month_end": "2024-04-01",
    }


def test_first_build_takes_every_month():
    assert months_to_build(MONTHS, set(), None, None, None) == MONTHS


def test_nothing_changed_builds_nothing():
    assert months_to_build(MONTHS, set(MONTHS), None, None, None) == []


def test_late_data_rebuilds_from_its_month_to_the_end():
    assert months_to_build(MONTHS, set(MONTHS), dt.date(2024, 3, 1), None, None) == MONTHS[2:]


def test_missing_month_in_the_middle_is_built_with_those_after_it():
    built = set(MONTHS) - {"2024-02-01"}
    # one contiguous range, so the balances carried into later months stay consistent
    assert months_to_build(MONTHS, built, None, None, None) == MONTHS[1:]


def test_explicit_bounds_win():
    assert months_to_build(MONTHS, set(), None, dt.date(2024, 2, 1), dt.date(2024, 3, 1)) == MONTHS[1:3]
    assert months_to_build(MONTHS, set(), None, dt.date(2024, 4, 1), None) == MONTHS[3:]


def test_compare_months_reports_count_and_sum_differences():
    source = {"2024-01-01": (3, Decimal("10.00")), "2024-02-01": (2, Decimal("5.00"))}
    raw = {"2024-01-01": (3, Decimal("10.00")), "2024-02-01": (2, Decimal("4.99")), "2024-03-01": (1, Decimal(1))}
    mismatches = compare_months(source, raw)
    assert [m["month"] for m in mismatches] == ["2024-02-01", "2024-03-01"]
    assert mismatches[1]["source_rows"] == 0 and mismatches[1]["raw_rows"] == 1


@pytest.mark.parametrize("text", ["2024-13", "24-01", "2024-01-15", "january", ""])
def test_bad_month_strings_are_named(text):
    with pytest.raises(SettingsError, match="--from"):
        parse_month(text, "--from")


def test_settings_name_the_bad_variable():
    with pytest.raises(SettingsError, match="FINEFINANCE_WAREHOUSE='oracle'"):
        load_settings({"FINEFINANCE_WAREHOUSE": "oracle"})
    with pytest.raises(SettingsError, match="FINEFINANCE_SOURCE_PORT"):
        load_settings({"FINEFINANCE_SOURCE_PORT": "http"})
    with pytest.raises(SettingsError, match="FINEFINANCE_FIRST_MONTH"):
        load_settings({"FINEFINANCE_FIRST_MONTH": "2024-02-30"})


def test_default_first_month_covers_the_simulated_period():
    settings = load_settings({})
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    assert settings.first_month == add_months(this_month, -23)


def test_external_source_is_read_with_the_reader_role():
    owner = "postgresql://owner:s3cret@db.example:5433/bank"
    settings = load_settings({"FINEFINANCE_SOURCE_URL": owner, "FINEFINANCE_SOURCE_READER_PASSWORD": "r-pw"})
    assert settings.source_url() == owner
    assert settings.source_url(reader=True) == "postgresql://finefinance_reader:r-pw@db.example:5433/bank"
    explicit = load_settings({"FINEFINANCE_SOURCE_URL": owner, "FINEFINANCE_SOURCE_READER_URL": "postgresql://ro@h/b"})
    assert explicit.source_url(reader=True) == "postgresql://ro@h/b"


def test_late_data_waits_for_staging_to_have_what_raw_has():
    """A month built before the daily refresh staged the newest transactions would miss them."""
    import duckdb

    from finefinance_platform.orchestration.late_data import staging_behind_raw

    con = duckdb.connect()
    con.execute("set TimeZone = 'Europe/Paris'")  # raw holds instants, staging UTC wall times
    con.execute("create schema raw; create schema staging")
    con.execute("create table raw.transaction (transaction_id varchar, updated_at timestamptz)")
    con.execute("insert into raw.transaction values ('t1', '2026-10-31 23:30:00+00'), ('t2', null)")
    assert staging_behind_raw(con)  # nothing staged yet
    con.execute("create table staging.base_transaction as select transaction_id, "
                "timezone('UTC', updated_at) as updated_at from raw.transaction")  # fmt: skip
    assert not staging_behind_raw(con)
    con.execute("insert into raw.transaction values ('t1', '2026-11-02 08:00:00+00')")  # a newer version
    assert staging_behind_raw(con)


def test_statement_files_are_rendered_in_runs_of_consecutive_months():
    from finefinance_platform.runs.pipeline import _contiguous_ranges

    assert _contiguous_ranges([MONTHS[0], MONTHS[1], MONTHS[3]], MONTHS) == [
        (MONTHS[0], MONTHS[1]),
        (MONTHS[3], MONTHS[3]),
    ]
    assert _contiguous_ranges([], MONTHS) == []
