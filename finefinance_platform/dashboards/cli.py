"""`finefinance dashboard` (the Streamlit dashboards) and `finefinance value backtest`."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from finefinance_platform.settings import get_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def dashboard(host: str, port: int) -> None:
    """The dashboards (Streamlit) behind sign-in: each role sees only its pages and its data."""
    from finefinance_platform.dashboards import streamlit_command, write_auth_secrets
    from finefinance_platform.identity.cli import ensure_identity
    from finefinance_platform.serving.marts import open_marts

    settings = get_settings()
    open_marts(settings).close()  # fail here, in one line, rather than in every page
    issuer = ensure_identity(settings, dashboard_port=port)
    secrets_file = write_auth_secrets(settings, issuer)
    click.echo(f"dashboards on http://{host}:{port} (sign in through {issuer}; demo users: `finefinance users`)")
    sys.exit(subprocess.call(streamlit_command(host, port, secrets_file)))


@click.group()
def value() -> None:
    """Customer value (marts.fct_customer_value)."""


@value.command("backtest")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def backtest(as_json: bool) -> None:
    """Does the tier predict value? Per month with six later months: the rank correlation of the value
    tier, and of the assigned profile, with the next six months' contribution, and how many tiers moved.

    Aggregates only (no customer is named): docs/business-definitions.md, "Does the tier predict value?".
    """
    from finefinance_platform.dashboards.value_backtest import report_lines, run_backtest
    from finefinance_platform.serving.marts import open_marts

    with open_marts(get_settings()) as con:
        result = run_backtest(con)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    for line in report_lines(result):
        click.echo(line)
