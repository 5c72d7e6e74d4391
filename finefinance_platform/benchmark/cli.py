"""`finefinance bench --scale XS|S|M|L`: measure the platform on a fresh data directory."""

from __future__ import annotations

import json

import click

from finefinance_platform.benchmark.harness import SCALES


@click.command()
@click.option(
    "--scale",
    type=click.Choice(list(SCALES)),
    default="S",
    show_default=True,
    help="Scale (docs/benchmarks.md): XS 200x6, S 2,000x24, M 20,000x24, L 100,000x36 (customers x months)",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--keep", is_flag=True, help="keep the benchmark's data directory (source, warehouse) afterwards")
@click.option(
    "--month-repeats",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="runs of each single month (the fastest counts)",
)
@click.option(
    "--ingest-repeats",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="runs of the bulk-copy baseline and of the first load (the fastest of each counts)",
)
@click.option("--export-formats", type=click.Choice(["pdf", "csv", "both"]), default="both", show_default=True)
@click.option(
    "--instance",
    type=click.Choice(["local", "ephemeral"]),
    default="local",
    show_default=True,
    help="Dagster instance of the runs: local (SQLite event log, as `finefinance run`) or in memory",
)
@click.option(
    "--live-trickle-seconds",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="seconds of trickle (a batch a second) before the measured live cycle",
)
@click.option(
    "--lag-minutes",
    type=click.FloatRange(min=0),
    default=10,
    show_default=True,
    help="minutes of trickle with `finefinance live` running, for the lag p50/p95 (0: not measured)",
)
@click.option(
    "--live-interval",
    type=click.FloatRange(min=5),
    default=60,
    show_default=True,
    help="seconds between the live cycles' starts while the lag is measured",
)
def bench(
    scale: str,
    seed: int,
    keep: bool,
    month_repeats: int,
    ingest_repeats: int,
    export_formats: str,
    instance: str,
    live_trickle_seconds: int,
    lag_minutes: float,
    live_interval: float,
) -> None:
    """Print one JSON object of figures (also written to <FINEFINANCE_HOME>/bench/<scale>.json).

    Progress goes to stderr. Every step runs in its own process on its own FINEFINANCE_HOME
    (<FINEFINANCE_HOME>/bench/<scale>/), with its own embedded PostgreSQL on a free port, its own
    DuckDB warehouse and Dagster instance: nothing of the caller's platform is touched.
    """
    from finefinance_platform.benchmark.harness import Benchmark, Options
    from finefinance_platform.settings import get_settings

    options = Options(
        scale=scale,
        seed=seed,
        keep=keep,
        month_repeats=month_repeats,
        ingest_repeats=ingest_repeats,
        export_formats=("pdf", "csv") if export_formats == "both" else (export_formats,),
        instance=instance,
        live_trickle_seconds=live_trickle_seconds,
        lag_minutes=lag_minutes,
        live_interval=live_interval,
    )
    figures = Benchmark(options, get_settings(), echo=lambda line: click.echo(line, err=True)).run()
    if scale != "M":
        click.echo(f"the targets are set for scale M; at {scale} fixed costs weigh differently (docs/benchmarks.md)",
                   err=True)  # fmt: skip
    for target in figures["targets"]:
        mark = "ok  " if target["met"] else "MISS"
        click.echo(f"{mark} {target['figure']}: {target['value']} (target {target['target']})", err=True)
    click.echo(json.dumps(figures, indent=2))
