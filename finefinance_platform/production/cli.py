"""`finefinance snowflake setup` and `finefinance airbyte bootstrap` (docs/production.md)."""

from __future__ import annotations

import click

from finefinance_platform.settings import get_settings


@click.group()
def snowflake() -> None:
    """The production warehouse on Snowflake."""


@snowflake.command()
@click.option("--dry-run", is_flag=True, help="Print the rendered statements; connect to nothing.")
def setup(dry_run: bool) -> None:
    """Create or update the database, schemas, warehouses, roles, users, grants and masking.

    Applies sql/snowflake/*.sql in order as FINEFINANCE_SNOWFLAKE_ADMIN_USER (key pair). Every
    statement is idempotent: run it again after any change.
    """
    from finefinance_platform.production.snowflake_setup import apply_setup, render_setup

    settings = get_settings()
    if dry_run:
        for setup_file in render_setup(settings):
            click.echo(f"-- {setup_file.path.name}: {len(setup_file.statements)} statements")
            for statement in setup_file.statements:
                click.echo(f"{statement};")
        return
    reports = apply_setup(settings)
    for report in reports:
        click.echo(f"{report.name}: {report.statements_run} statements run")
    total = sum(report.statements_run for report in reports)
    click.echo(f"Snowflake {settings.snowflake.database} is set up ({total} statements, {len(reports)} files).")


@click.group()
def airbyte() -> None:
    """The production ingestion on Airbyte."""


@airbyte.command()
@click.option(
    "--update-secrets",
    is_flag=True,
    help="Send the source password and destination key even if nothing else changed (rotation).",
)
def bootstrap(update_secrets: bool) -> None:
    """Create or update the PostgreSQL source, Snowflake destination and their connection.

    Idempotent: compares the desired configuration with the workspace's and changes only what
    differs; a second run reports everything unchanged.
    """
    from finefinance_platform.production.airbyte_bootstrap import bootstrap as run_bootstrap

    result = run_bootstrap(get_settings(), update_secrets=update_secrets)
    for change in result.changes:
        click.echo(change.describe())
    click.echo("Airbyte is up to date." if not result.changed else "Airbyte configuration applied.")
