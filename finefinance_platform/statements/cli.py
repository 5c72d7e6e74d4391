"""`finefinance statement` (one statement, `statement verify FILE`) and `finefinance statements export`."""

from __future__ import annotations

import datetime as dt
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
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.statements.export import write_atomically
    from finefinance_platform.statements.issuing.issued import load_issued_statement
    from finefinance_platform.statements.render import render

    settings = get_settings()
    month = _month(month_text)
    customer_id = customer_id.strip()
    action = Action.DOWNLOAD_PDF if fmt == "pdf" else Action.DOWNLOAD_CSV
    try:
        with open_marts(settings) as con:
            loaded = load_issued_statement(con, customer_id, month, version)
    except FineFinanceError as exc:
        access_log.record(operator(), action, "denied", channel="cli", customer_id=customer_id, month_start=month,
                          detail=str(exc), settings=settings)  # fmt: skip
        raise
    issue = loaded.issue
    access_log.record(operator(), action, "allowed", channel="cli", customer_id=customer_id, month_start=month,
                      detail=f"version {issue.version}", settings=settings)  # fmt: skip
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
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.statements.verify import verify_document

    settings = get_settings()
    with open_marts(settings) as con:
        result = verify_document(con, file.read_bytes())
    # verifying shows which customer's statement a file is: logged as viewing it
    access_log.record(operator(), Action.VIEW_STATEMENT, "allowed", channel="cli", customer_id=result.customer_id,
                      month_start=result.month, detail=f"verify: {result.message}"[:500],
                      settings=settings)  # fmt: skip
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
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.statements.export import DEFAULT_WORKERS, export_month, parse_formats, statements_folder

    settings = get_settings()
    month = _month(month_text)
    access_log.record(operator(), Action.EXPORT_STATEMENTS, "allowed", channel="cli", month_start=month,
                      settings=settings)  # fmt: skip
    with open_marts(settings) as con:
        result = export_month(con, month, statements_folder(month, settings), parse_formats(fmt),
                              workers=workers or DEFAULT_WORKERS)  # fmt: skip
    current = result.customers - result.rendered
    click.echo(
        f"exported {result.customers} customers' statements for {month:%Y-%m} to {result.folder}: "
        f"{result.rendered} rendered ({result.files} files) in {result.seconds:.1f} s"
        + (f" ({result.statements_per_second:.0f} statements/s)" if result.rendered else "")
        + (f"; {current} already held their issued version" if current else "")
    )
