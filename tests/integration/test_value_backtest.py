"""`finefinance value backtest`: its correlations against an independent Spearman, its tier moves by
hand, and its message when the mart holds too few months. A hand-written fct_customer_value in a
tiny serving copy; no pipeline build."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from finefinance_platform.cli import cli
from finefinance_platform.dashboards.value_backtest import run_backtest
from finefinance_platform.serving.marts import open_marts
from finefinance_platform.serving.publish import publish_serving_copy
from finefinance_platform.settings import load_settings

MONTHS = [dt.date(2025, m, 1) for m in range(1, 9)]  # 8 months: the first two have six later ones
TIER_NAMES = {1: "Negative", 2: "Low", 3: "Core", 4: "High", 5: "Top"}
PROFILE_RANKS = {"Bronze": 1, "Gold": 2, "Diamond": 3}

# customer -> (profile, tier rank per month from MONTHS[0]; None: no row that month)
CUSTOMERS = {
    "A": ("Diamond", [5, 5, 5, 5, 5, 5, 5, 5]),
    "B": ("Gold", [4, 3, 3, 3, 3, 3, 3, 3]),  # moves down between month 0 and 1
    "C": ("Bronze", [3, 3, 4, 4, 4, 4, 4, 4]),  # moves up between month 1 and 2
    "D": ("Gold", [2, 2, 2, 2, 2, 2, 2, 2]),
    "E": ("Bronze", [1, 1, 1, 1, 1, 1, 1, 1]),
    "F": ("Diamond", [2, 2, 2, 2, None, None, None, None]),  # gone after month 3
    "G": (None, [None, 3, 3, 3, 3, 3, 3, 3]),  # new in month 1, no profile known
}
# contribution per month: a base and a monthly step, so the next six months' sums differ and, for
# D and G, tie (the average rank of a tie is exercised on both sides)
CONTRIBUTION = {
    "A": (Decimal("80.10"), Decimal("-3.05")),
    "B": (Decimal("12.34"), Decimal("0.50")),
    "C": (Decimal("20.00"), Decimal("4.25")),
    "D": (Decimal("9.99"), Decimal("0.00")),
    "E": (Decimal("-4.10"), Decimal("0.75")),
    "F": (Decimal("60.00"), Decimal("-1.00")),
    "G": (Decimal("9.99"), Decimal("0.00")),
}


def _rows(months=MONTHS) -> list[tuple]:
    rows = []
    for customer, (profile, tiers) in CUSTOMERS.items():
        base, step = CONTRIBUTION[customer]
        for index, month in enumerate(months):
            tier = tiers[index]
            if tier is None:
                continue
            rows.append((customer, month, TIER_NAMES[tier], tier, profile, base + step * index, "version-one"))
    return rows


def _home(root: Path, rows: list[tuple]):
    root.mkdir(parents=True)
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_customer_value (customer_id varchar, month_start date, value_tier varchar, "
            "value_tier_rank integer, profile varchar, contribution decimal(18,2), definition_version varchar)"
        )
        con.executemany("insert into marts.fct_customer_value values (?, ?, ?, ?, ?, ?, ?)", rows)
    env = {"FINEFINANCE_HOME": str(root), "FINEFINANCE_DUCKDB_PATH": str(warehouse)}
    settings = load_settings({**os.environ, **env})
    publish_serving_copy(warehouse, settings)  # readers go through the serving copy, as in production
    return settings, env


def _average_ranks(values: list) -> list[float]:
    ordered = sorted(values)
    first = {}
    for position, value in enumerate(ordered, start=1):
        first.setdefault(value, position)
    return [first[v] + (ordered.count(v) - 1) / 2 for v in values]


def _spearman(xs: list, ys: list) -> float:
    """Plain-Python Spearman: Pearson's coefficient of the average ranks."""
    rx, ry = _average_ranks(xs), _average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def _expected(rows: list[tuple], month: dt.date) -> tuple[float, float]:
    """Independently: over the customers with a row in `month`, their tier and profile against the
    sum of the contributions they have in the six months after it (what exists)."""
    later = {MONTHS[MONTHS.index(month) + k] for k in range(1, 7)}
    present = [(c, rank, profile) for c, m, _, rank, profile, _, _ in rows if m == month]
    future = {c: sum((x for cc, m, *_, x, _ in rows if cc == c and m in later), Decimal(0)) for c, *_ in present}
    tier = _spearman([rank for _, rank, _ in present], [future[c] for c, _, _ in present])
    known = [(c, PROFILE_RANKS[p]) for c, _, p in present if p is not None]
    profile = _spearman([rank for _, rank in known], [future[c] for c, _ in known])
    return tier, profile


@pytest.fixture()
def home(tmp_path):
    rows = _rows()
    settings, env = _home(tmp_path / "home", rows)
    return rows, settings, env


def test_correlations_and_moves_agree_with_an_independent_computation(home):
    rows, settings, _ = home
    with open_marts(settings) as con:
        result = run_backtest(con)

    assert result.months_in_mart == 8
    assert [m.month_start for m in result.months] == MONTHS[:2]
    for month in result.months:
        tier, profile = _expected(rows, month.month_start)
        assert month.tier_spearman == pytest.approx(tier, abs=1e-9)
        assert month.profile_spearman == pytest.approx(profile, abs=1e-9)
    first, second = result.months
    assert (first.customers, first.customers_with_profile, first.customers_missing_later) == (6, 6, 1)  # F gone
    assert (second.customers, second.customers_with_profile, second.customers_missing_later) == (7, 6, 1)
    # by hand: January -> February only B moved (6 in both); January -> July B and C (F gone: 5 in both)
    assert first.moved_next_share == pytest.approx(1 / 6)
    assert first.moved_6_share == pytest.approx(2 / 5)
    # February -> March only C (7 in both); February -> August only C (A, B, C, D, E, G in both)
    assert second.moved_next_share == pytest.approx(1 / 7)
    assert second.moved_6_share == pytest.approx(1 / 6)
    assert result.mean_tier_spearman == pytest.approx((first.tier_spearman + second.tier_spearman) / 2)
    assert result.mean_profile_spearman == pytest.approx((first.profile_spearman + second.profile_spearman) / 2)
    assert result.definition_versions == ["version-one"]


def test_the_command_prints_a_line_per_month_and_a_summary(home):
    _, _, env = home
    runner = CliRunner()
    printed = runner.invoke(cli, ["value", "backtest"], env=env)
    assert printed.exit_code == 0, printed.output
    lines = printed.output.strip().splitlines()
    assert [line[:7] for line in lines[1:3]] == ["2025-01", "2025-02"]
    assert lines[-1].startswith("summary: 2 months counted (of 8 in the mart)")
    assert "1 missing some later month" in lines[1]

    as_json = runner.invoke(cli, ["value", "backtest", "--json"], env=env)
    figures = json.loads(as_json.output)
    assert figures["months_counted"] == 2
    assert figures["months"][0]["moved_next_share"] == pytest.approx(1 / 6)
    assert f"{figures['mean_tier_spearman']:+.3f}" in lines[-1]


def test_too_few_months_says_so_in_one_line(tmp_path):
    _, env = _home(tmp_path / "short", _rows(MONTHS[:3]))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "finefinance"), "value", "backtest"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        "error: needs at least 7 months of marts.fct_customer_value; found 3"
    )
