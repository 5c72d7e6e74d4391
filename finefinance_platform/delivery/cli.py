"""`finefinance statement | statements export | token | serve | dashboard`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import click

from finefinance_platform.settings import get_settings, parse_month


def _month(value: str) -> dt.date:
    return parse_month(value, "--month")


@click.command()
@click.option("--customer-id", required=True, help="The customer's id (marts.dim_customer.customer_id).")
@click.option("--month", "month_text", required=True, metavar="YYYY-MM", help="A closed month.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: statement-<YYYY-MM>-<customer id>.<format> in the current folder).",
)
def statement(customer_id: str, month_text: str, fmt: str, output: Path | None) -> None:
    """Write one customer's monthly statement as PDF or CSV."""
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.delivery.statement import load_statement, render, write_atomically

    month = _month(month_text)
    with open_marts() as con:
        loaded = load_statement(con, customer_id.strip(), month)
    output = output or Path(f"statement-{month:%Y-%m}-{loaded.customer_id}.{fmt}")
    write_atomically(output, render(loaded, fmt))
    lines = sum(len(account.lines) for account in loaded.accounts)
    click.echo(
        f"wrote {output} ({loaded.customer_name}, {month:%Y-%m}: "
        f"{len(loaded.accounts)} account(s), {lines} transaction(s))"
    )


@click.group()
def statements() -> None:
    """Statements of every customer."""


@statements.command("export")
@click.option("--month", "month_text", required=True, metavar="YYYY-MM", help="A closed month.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv", "both"]), default="both", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=None,
    help="Rendering processes (default: 1; more helps on machines with real spare cores).",
)
def export(month_text: str, fmt: str, workers: int | None) -> None:
    """Write every customer's statements of a month under <FINEFINANCE_HOME>/statements/YYYY-MM/."""
    from finefinance_platform.delivery.export import DEFAULT_WORKERS, export_month, parse_formats
    from finefinance_platform.delivery.serving import open_marts

    month = _month(month_text)
    with open_marts() as con:
        result = export_month(con, month, parse_formats(fmt), workers=workers or DEFAULT_WORKERS)
    click.echo(
        f"exported {result.customers} customers' statements ({result.files} files) for {month:%Y-%m} "
        f"to {result.folder} in {result.seconds:.1f} s ({result.statements_per_second:.0f} statements/s)"
    )


@click.command()
@click.option("--customer-id", required=True, help="The customer the token lets in.")
@click.option("--ttl-minutes", type=click.IntRange(1, 7 * 24 * 60), default=60, show_default=True)
def token(customer_id: str, ttl_minutes: int) -> None:
    """Print a bearer token for the statement service, valid for one customer."""
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.delivery.statement import UnknownCustomerError
    from finefinance_platform.delivery.tokens import issue_token, statement_secret

    customer_id = customer_id.strip()
    with open_marts() as con:
        known = con.execute(
            "select count(*) from marts.dim_customer where cast(customer_id as varchar) = ?", [customer_id]
        ).fetchone()[0]
    if not known:
        raise UnknownCustomerError(f"unknown customer {customer_id!r}: not in marts.dim_customer")
    click.echo(issue_token(customer_id, statement_secret(get_settings()), dt.timedelta(minutes=ttl_minutes)))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve customers their statements over HTTP (bearer token from `finefinance token`)."""
    import uvicorn

    from finefinance_platform.delivery.http_service import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def dashboard(host: str, port: int) -> None:
    """The advisors' and directors' dashboards (Streamlit), reading the marts only."""
    from finefinance_platform.delivery.dashboard import streamlit_command
    from finefinance_platform.delivery.serving import open_marts

    open_marts().close()  # fail here, in one line, rather than in every page
    sys.exit(subprocess.call(streamlit_command(host, port)))
