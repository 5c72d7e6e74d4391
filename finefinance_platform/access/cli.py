"""`finefinance access-log`: who saw or was refused which customer's data."""

from __future__ import annotations

import click


@click.command("access-log")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def access_log(limit: int) -> None:
    """Print audit.access_log, newest first: who saw or was refused which customer's data."""
    from finefinance_platform.access.access_log import COLUMNS, log_path, printable, read
    from finefinance_platform.settings import get_settings

    settings = get_settings()
    rows = read(settings, limit=limit)
    if settings.warehouse == "snowflake":
        click.echo(f"{settings.snowflake.database}.audit.access_log (Snowflake)")
    else:
        click.echo(f"{log_path(settings)} (sqlite; attached as `audit`: select * from audit.access_log)")
    click.echo("\t".join(COLUMNS))
    for row in rows:
        # escaped again when shown: rows written before the log stored text printable may hold newlines or tabs
        click.echo("\t".join("" if value is None else printable(value) for value in vars(row).values()))
