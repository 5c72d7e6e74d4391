"""`finefinance statement | statements export | serve | dashboard | access-log`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import click

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import parse_month
from finefinance_platform.settings import get_settings


def _month(value: str) -> dt.date:
    return parse_month(value, "--month")


def operator():
    """The person at the shell: whoever runs the CLI can read the warehouse file; logged as such."""
    import getpass

    from finefinance_platform.access.policy import Principal, Role

    return Principal(subject=f"os:{getpass.getuser()}", role=Role.OPERATIONS)


@click.group(invoke_without_command=True)
@click.option("--customer-id", help="The customer's id (marts.dim_customer.customer_id).")
@click.option("--month", "month_text", metavar="YYYY-MM", help="A closed month.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf", show_default=True)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    help="An issued version of the statement (default: the latest).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: statement-<YYYY-MM>-<customer id>-v<version>.<format> in the current folder).",
)
@click.pass_context
def statement(
    ctx: click.Context,
    customer_id: str | None,
    month_text: str | None,
    fmt: str,
    version: int | None,
    output: Path | None,
) -> None:
    """Write one customer's monthly statement (an issued version) as PDF or CSV.

    `finefinance statement verify FILE` tells whether a downloaded statement is authentic.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not customer_id or not month_text:
        raise click.UsageError("--customer-id and --month are required (or: statement verify FILE)")
    from finefinance_platform.access import access_log
    from finefinance_platform.access.policy import Action
    from finefinance_platform.delivery.issues import load_issued_statement
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.delivery.statement import render, write_atomically

    month = _month(month_text)
    customer_id = customer_id.strip()
    action = Action.DOWNLOAD_PDF if fmt == "pdf" else Action.DOWNLOAD_CSV
    try:
        with open_marts() as con:
            loaded = load_issued_statement(con, customer_id, month, version)
    except FineFinanceError as exc:
        access_log.record(operator(), action, "denied", channel="cli", customer_id=customer_id, month_start=month,
                          detail=str(exc))  # fmt: skip
        raise
    issue = loaded.issue
    access_log.record(operator(), action, "allowed", channel="cli", customer_id=customer_id, month_start=month,
                      detail=f"version {issue.version}")  # fmt: skip
    output = output or Path(f"statement-{month:%Y-%m}-{loaded.customer_id}-v{issue.version}.{fmt}")
    write_atomically(output, render(loaded, fmt))
    lines = sum(len(account.lines) for account in loaded.accounts)
    corrects = f", corrects version {issue.replaces_version}" if issue.is_correction else ""
    click.echo(
        f"wrote {output} ({loaded.customer_name}, {month:%Y-%m} version {issue.version} issued on "
        f"{issue.issued_at.date().isoformat()}{corrects}: {len(loaded.accounts)} account(s), {lines} transaction(s))"
    )


@statement.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(file: Path) -> None:
    """Tell whether FILE (a statement PDF or CSV) is an authentic issued version, and which.

    Exits 0 for an authentic file (saying whether a newer version replaces it), 1 otherwise.
    """
    from finefinance_platform.access import access_log
    from finefinance_platform.access.policy import Action
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.delivery.verify import verify_document

    with open_marts() as con:
        result = verify_document(con, file.read_bytes())
    # verifying shows which customer's statement a file is: logged as viewing it
    access_log.record(operator(), Action.VIEW_STATEMENT, "allowed", channel="cli", customer_id=result.customer_id,
                      month_start=result.month, detail=f"verify: {result.message}"[:500])  # fmt: skip
    if not result.authentic:
        raise FineFinanceError(f"{file}: {result.message}")
    click.echo(f"{file}: {result.message}")


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
    from finefinance_platform.access import access_log
    from finefinance_platform.access.policy import Action
    from finefinance_platform.delivery.export import DEFAULT_WORKERS, export_month, parse_formats
    from finefinance_platform.delivery.serving import open_marts

    month = _month(month_text)
    access_log.record(operator(), Action.EXPORT_STATEMENTS, "allowed", channel="cli", month_start=month)
    with open_marts() as con:
        result = export_month(con, month, parse_formats(fmt), workers=workers or DEFAULT_WORKERS)
    current = result.customers - result.rendered
    click.echo(
        f"exported {result.customers} customers' statements for {month:%Y-%m} to {result.folder}: "
        f"{result.rendered} rendered ({result.files} files) in {result.seconds:.1f} s"
        + (f" ({result.statements_per_second:.0f} statements/s)" if result.rendered else "")
        + (f"; {current} already held their issued version" if current else "")
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve customers their statements over HTTP (access tokens of the identity provider)."""
    import uvicorn

    from finefinance_platform.delivery.http_service import create_app
    from finefinance_platform.identity.cli import ensure_identity

    uvicorn.run(create_app(issuer=ensure_identity()), host=host, port=port, log_level="info")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
def dashboard(host: str, port: int) -> None:
    """The dashboards (Streamlit) behind sign-in: each role sees only its pages and its data."""
    from finefinance_platform.delivery.dashboard import streamlit_command, write_auth_secrets
    from finefinance_platform.delivery.serving import open_marts
    from finefinance_platform.identity.cli import ensure_identity

    open_marts().close()  # fail here, in one line, rather than in every page
    settings = get_settings()
    issuer = ensure_identity(settings, dashboard_port=port)
    secrets_file = write_auth_secrets(settings, issuer)
    click.echo(f"dashboards on http://{host}:{port} (sign in through {issuer}; demo users: `finefinance users`)")
    sys.exit(subprocess.call(streamlit_command(host, port, secrets_file)))


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
