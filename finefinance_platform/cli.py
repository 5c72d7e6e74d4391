"""`finefinance`: the command line of the platform.

Each command lives next to the code it drives and is imported only when called, so
`finefinance source status` answers without loading Dagster or dbt.
"""

from __future__ import annotations

import gc
import importlib
import sys

import click

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.settings import Settings, get_settings

# command name -> "module:attribute" of a click command or group
COMMANDS = {
    "stop": "finefinance_platform.cli:stop",
    "source": "finefinance_platform.source.cli:source",
    "simulate": "finefinance_platform.source.cli:simulate",
    "run": "finefinance_platform.runs.cli:run",
    "dev": "finefinance_platform.runs.cli:dev",
    "live": "finefinance_platform.runs.cli:live",
    "statement": "finefinance_platform.statements.cli:statement",
    "statements": "finefinance_platform.statements.cli:statements",
    "identity": "finefinance_platform.identity.cli:identity",
    "users": "finefinance_platform.identity.cli:users",
    "token": "finefinance_platform.identity.cli:token",
    "access-log": "finefinance_platform.access.cli:access_log",
    "serve": "finefinance_platform.api.cli:serve",
    "dashboard": "finefinance_platform.dashboards.cli:dashboard",
    "value": "finefinance_platform.dashboards.cli:value",
    "snowflake": "finefinance_platform.production.cli:snowflake",
    "airbyte": "finefinance_platform.production.cli:airbyte",
    "bench": "finefinance_platform.benchmark.cli:bench",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that part of the platform is not built yet
            raise
        return getattr(module, attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """FineFinance data platform: source, ingestion, warehouse, marts, statements and dashboards."""


@click.command()
def stop() -> None:
    """Stop the embedded services the platform starts: PostgreSQL and the identity provider.

    It lives here, above the rooms, because it spans two of them (`source stop` and `identity stop`
    stop one each): the source room is the pipeline's bottom layer and imports no room above it."""
    from finefinance_platform.identity.provider import EmbeddedIdentityProvider
    from finefinance_platform.source.embedded_postgres import EmbeddedPostgres

    settings = get_settings()
    click.echo(EmbeddedPostgres(settings).stop().describe())
    if settings.identity.embedded:
        click.echo(EmbeddedIdentityProvider(settings).stop().describe())


def _keep_the_home_private(settings: Settings) -> None:
    from finefinance_platform.private_home import passages_to_postgres, repair_home

    home = settings.home
    repaired = repair_home(home, passages_to_postgres(home, settings.postgres_dir))
    if repaired:
        click.echo(f"made {repaired} files and folders under {home} private (0600/0700): other local users "
                   "could read them", err=True)  # fmt: skip


def main() -> None:
    from finefinance_platform.errors import SettingsError
    from finefinance_platform.library_log import send_library_messages_to_the_log

    try:
        settings = get_settings()
    except SettingsError:
        settings = None  # the command itself says what is wrong with the settings
    if settings is not None:
        send_library_messages_to_the_log(settings)
    try:
        if settings is not None:
            _keep_the_home_private(settings)
        cli(standalone_mode=True)
    except FineFinanceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        # the process ends: what a run left (Dagster's, dbt's and dlt's objects) needs no more
        # collecting, and walking it at the interpreter's exit cost `live --once` 0.6 s
        gc.freeze()
