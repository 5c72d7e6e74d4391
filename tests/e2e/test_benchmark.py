"""`finefinance bench` at scale XS: the harness runs every step and reports every figure.

A smoke test of the harness, not of speed: no timing is asserted. What is asserted could fail:
every figure is present and numeric, incremental ingestion moved exactly the rows the trickle
changed, the SQL floor computed the same marts, and the benchmark cleaned up after itself.
"""

import json
import math
import socket
from contextlib import closing

import pytest
from click.testing import CliRunner

from finefinance_platform.cli import cli
from finefinance_platform.settings import get_settings

# minutes, not seconds: `make test` starts the longest files first, so its two workers finish together
pytestmark = pytest.mark.slow(minutes=5)

STEPS = (
    "simulator",
    "bulk_copy_baseline",
    "ingestion_full",
    "trickle",
    "ingestion_incremental",
    "dbt_startup",
    "refresh",
    "backfill",
    "sql_floor",
    "month_early",
    "month_last",
    "export",
    "refresh_after_changes",
    "live_cycle",
    "live_once",
    "start_up",
    "newcomer_run",
    "one_month_run",
)
FIGURES = {
    "simulator": ("seconds", "rows", "rows_per_second"),
    "ingestion": (
        "full_seconds",
        "full_rows",
        "full_rows_per_second",
        "baseline_seconds",
        "baseline_rows_per_second",
        "ratio_to_baseline",
        "trickle_rows_changed",
        "incremental_seconds",
        "incremental_rows_moved",
        "incremental_share_of_history",
    ),
    "transformation": (
        "dbt_startup_seconds",
        "refresh_seconds",
        "backfill_seconds",
        "sql_floor_seconds",
        "backfill_ratio_to_floor",
        "backfill_budget_seconds",
        "month_early_seconds",
        "month_last_seconds",
        "month_ratio_last_to_early",
    ),
    "export": ("statements", "seconds", "statements_per_second", "statements_per_second_per_core"),
    "newcomer": ("run_seconds", "one_month_seconds"),
    "live": (
        "refresh_first_dbt_elapsed_seconds",
        "refresh_after_changes_dbt_elapsed_seconds",
        "base_transaction_full_seconds",
        "base_transaction_incremental_seconds",
        "cycle_seconds",
        "cycle_dbt_elapsed_seconds",
        "once_wall_seconds",
    ),
    "start_up": ("definitions_import_seconds",),
    "memory": ("max_step_peak_rss_mib", "postgres_peak_pss_mib"),
}


def _is_figure(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _port_open(port: int) -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_bench_xs_reports_every_figure():
    # under the session's FINEFINANCE_HOME (a folder the embedded PostgreSQL's user may enter,
    # unlike pytest's tmp_path); the benchmark makes its own home inside it
    home = get_settings().home
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--scale",
            "XS",
            "--month-repeats",
            "1",
            "--ingest-repeats",
            "1",
            "--export-formats",
            "csv",
            "--instance",
            "ephemeral",
            # the lag needs minutes of trickle to mean anything: measured at S (docs/benchmarks.md), its
            # arithmetic unit-tested below
            "--live-trickle-seconds",
            "3",
            "--lag-minutes",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)

    # the same figures are kept under the caller's home; the benchmark's own home is gone
    assert json.loads((home / "bench" / "XS.json").read_text()) == figures
    assert not (home / "bench" / "XS").exists()
    assert "[bench XS] 12. export" in result.stderr

    assert (figures["scale"], figures["customers"], figures["months"]) == ("XS", 200, 6)
    for section, names in FIGURES.items():
        for name in names:
            assert _is_figure(figures[section][name]), f"{section}.{name} = {figures[section].get(name)!r}"
    for step in STEPS:
        assert _is_figure(figures["steps"][step]["seconds"]), step
        assert _is_figure(figures["steps"][step]["cpu_seconds"]), step
        assert figures["memory"]["peak_rss_mib"][step] > 20, step  # a Python process, measured
    assert figures["memory"]["postgres_peak_pss_mib"] > 0

    ingestion = figures["ingestion"]
    # the full load moved every row; the incremental one exactly what the trickle changed
    assert figures["steps"]["ingestion_full"]["rows_moved"] == figures["simulator"]["rows"] == ingestion["full_rows"]
    assert ingestion["incremental_rows_moved"] == ingestion["trickle_rows_changed"] > 0
    assert ingestion["incremental_share_of_history"] < 0.05

    transformation = figures["transformation"]
    agreement = transformation["floor_agrees_with_marts"]
    assert set(agreement) >= {"fct_monthly_statement", "fct_statement_line", "fct_customer_month"}
    assert all(agreement.values()), agreement
    assert transformation["month_early"] < transformation["month_last"]
    assert figures["export"]["statements"] > 0

    # each dbt step of Dagster against dbt's own time inside it, from the runs' records
    for name, ratio in figures["dagster_over_dbt"].items():
        assert ratio["step_seconds"] >= ratio["dbt_process_seconds"] >= ratio["dbt_invocation_seconds"], name
        assert ratio["dbt_invocation_seconds"] >= ratio["dbt_elapsed_seconds"] > 0, name
    newcomer = figures["newcomer"]
    # the newcomer's run built every month and rendered the newest month's files; the month
    # rebuilt with nothing new ingested, built its month and left staging as it was
    assert newcomer["months_built"] == 6 and figures["steps"]["newcomer_run"]["statement_files"] == [
        figures["period"]["last_month"]
    ]
    assert set(newcomer["run_phases_seconds"]) == {"ingest", "refresh", "months", "statement_files"}
    assert set(newcomer["one_month_phases_seconds"]) == {"ingest", "months", "statement_files"}
    assert newcomer["one_month_seconds"] < newcomer["run_seconds"]

    # a fresh process for each command that runs no pipeline
    commands = figures["start_up"]["commands_seconds"]
    assert set(commands) == {"--help", "source status", "users --sample", "access-log --limit 1"}
    assert all(_is_figure(seconds) for seconds in commands.values()), commands

    targets = {target["figure"]: target for target in figures["targets"]}
    # the lag's target only when the lag is measured; 4 dbt steps, the one-month run, the newcomer's;
    # the definitions' import, 4 commands, `live --once`
    assert len(targets) == 10 + 4 + 2 + 1 + 4 + 1
    assert all(isinstance(target["met"], bool) for target in targets.values())

    live = figures["live"]
    # both refreshes built staging (all of raw, then a day of changes: at XS the two cost the same,
    # at S and M docs/benchmarks.md compares them)
    assert live["base_transaction_full_seconds"] > 0 and live["base_transaction_incremental_seconds"] > 0
    assert live["cycle_trickle_batches"] == 3 and "lag_p95_seconds" not in live

    # the benchmark's PostgreSQL was stopped
    assert not _port_open(figures["postgres_port"])


def test_lag_is_measured_to_the_end_of_the_first_cycle_that_read_the_commit():
    from finefinance_platform.benchmark.steps import lags_from_cycles, percentile

    cycles = [(100.0, 110.0), (160.0, 172.0), (220.0, 229.0)]
    # committed before the first cycle started, between two cycles' starts, during a cycle, after all
    assert lags_from_cycles([95.0, 120.0, 165.0, 300.0], cycles) == [15.0, 52.0, 64.0]
    assert percentile([15.0, 52.0, 64.0], 0.5) == 52.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
