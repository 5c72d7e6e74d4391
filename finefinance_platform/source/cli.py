"""`finefinance source ...` and `finefinance simulate`."""

from __future__ import annotations

import click

from finefinance_platform.errors import SettingsError
from finefinance_platform.months import parse_month
from finefinance_platform.settings import get_settings


def ensure_source_ready() -> str:
    """Start the embedded source if it is the one configured (else migrate the external one); return its URL."""
    import psycopg2

    from finefinance_platform.source.embedded_postgres import EmbeddedPostgres, SourceError

    settings = get_settings()
    if settings.embedded_source:
        EmbeddedPostgres(settings).start()
        return settings.source_url()
    from finefinance_platform.source.migrations import apply_migrations

    try:
        apply_migrations(settings.source_url(), settings.source_reader_password)
    except psycopg2.OperationalError as exc:
        where = settings.source_url().split("@")[-1]
        reason = str(exc).strip().splitlines()[0]
        raise SourceError(f"the operational source {where} (FINEFINANCE_SOURCE_URL) is unreachable: {reason}") from exc
    return settings.source_url()


@click.group()
def source() -> None:
    """The operational PostgreSQL: the embedded one, unless FINEFINANCE_SOURCE_URL points elsewhere."""


@source.command()
def start() -> None:
    """Start the embedded PostgreSQL (idempotent) and apply pending DDL migrations."""
    from finefinance_platform.source.embedded_postgres import EmbeddedPostgres

    settings = get_settings()
    if not settings.embedded_source:
        ensure_source_ready()
        click.echo("FINEFINANCE_SOURCE_URL is set: the external PostgreSQL is migrated, nothing to start")
        return
    click.echo(EmbeddedPostgres(settings).start().describe())


@source.command()
def stop() -> None:
    """Stop the embedded PostgreSQL (fast shutdown: open sessions are rolled back). `finefinance stop`
    also stops the embedded identity provider."""
    from finefinance_platform.source.embedded_postgres import EmbeddedPostgres

    click.echo(EmbeddedPostgres(get_settings()).stop().describe())


@source.command()
def status() -> None:
    """Say whether the embedded PostgreSQL runs and where it listens (exit 3 when stopped)."""
    from finefinance_platform.source.embedded_postgres import EmbeddedPostgres

    settings = get_settings()
    if not settings.embedded_source:
        click.echo("source: external PostgreSQL from FINEFINANCE_SOURCE_URL")
        return
    state = EmbeddedPostgres(settings).status()
    click.echo(state.describe())
    if not state.running:
        raise SystemExit(3)


def _month_option(value: str | None) -> object:
    if value is None:
        return None
    try:
        return parse_month(value, "--start")
    except SettingsError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.option("--customers", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--months", type=click.IntRange(min=1, max=240), default=24, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--start",
    "start_month",
    callback=lambda _c, _p, v: _month_option(v),
    help="first month YYYY-MM (default: the period ends with the current month)",
)
@click.option("--replace", is_flag=True, help="empty the source first if it already holds data")
@click.option("--if-empty", is_flag=True, help="do nothing when the source already holds data")
@click.option("--trickle", is_flag=True, help="keep inserting and updating rows like a live bank until stopped")
@click.option("--interval", type=float, default=1.0, show_default=True, help="seconds between trickle batches")
@click.option("--batches", type=click.IntRange(min=1), default=None, help="stop the trickle after this many batches")
def simulate(customers, months, seed, start_month, replace, if_empty, trickle, interval, batches) -> None:
    """Fill the source deterministically (same seed, same rows), or trickle live changes into it."""
    from finefinance_platform.source import simulator

    dsn = ensure_source_ready()
    if trickle:
        simulator.trickle(dsn, seed=seed, interval_seconds=interval, max_batches=batches)
        return
    if if_empty and simulator.source_has_data(dsn):
        click.echo("source already holds data: simulation skipped (use --replace to regenerate)")
        return
    summary = simulator.simulate(dsn, customers=customers, months=months, seed=seed, start=start_month, replace=replace)
    click.echo(summary.describe())
