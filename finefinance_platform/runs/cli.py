"""`finefinance run` (ingest and materialize the selected months, then say what was built and where),
`finefinance live` (the live cycle) and `finefinance dev` (the Dagster UI)."""

import datetime as dt
import signal
import subprocess
import time

import click

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import parse_month
from finefinance_platform.settings import get_settings


def _month_option(option: str):
    """A YYYY-MM option as the first day of its month, parsed before anything starts (the one place
    it is parsed: the months are handed down as dates); the error names the option."""

    def parse(_ctx, _param, value):
        return None if value is None else parse_month(value, option)

    return parse


@click.command()
@click.option("--from", "start", metavar="YYYY-MM", callback=_month_option("--from"), help="first month to (re)build")
@click.option("--to", "end", metavar="YYYY-MM", callback=_month_option("--to"), help="last month to (re)build")
def run(start: dt.date | None, end: dt.date | None) -> None:
    """Ingest the source, refresh the models and build the months.

    Without --from/--to: every completed month not built yet, plus every month that data arriving
    late touched (a late change carries into the balances of all later months).
    """
    from finefinance_platform.runs.pipeline import run_pipeline, warehouse_summary
    from finefinance_platform.source.cli import ensure_source_ready

    settings = get_settings()
    if start and end and start > end:
        raise FineFinanceError(f"--from {start:%Y-%m} is after --to {end:%Y-%m}")
    started = time.monotonic()
    ensure_source_ready()
    report = run_pipeline(settings, start, end, echo=click.echo)
    click.echo("")
    click.echo(
        f"built in {time.monotonic() - started:.0f} s: {len(report.months)} month(s)"
        + (f" {report.months[0]} .. {report.months[-1]}" if report.months else "")
    )
    if report.documents:
        from finefinance_platform.statements.export import statements_root

        rendered = ", ".join(month[:7] for month in report.documents)
        click.echo(
            f"statement files (PDF, CSV) of {rendered} in {statements_root(settings)}; every month's statements "
            "are issued and downloadable (`finefinance statement`, `finefinance serve`), and an older month's "
            "files are one `finefinance statements export --month YYYY-MM` away"
        )
    if report.failed_checks:
        click.echo(f"checks that failed ({len(report.failed_checks)}), see audit.alerts:")
        for name in report.failed_checks:
            click.echo(f"  - {name}")
    if settings.warehouse == "duckdb":
        click.echo(f"warehouse: {settings.duckdb_path}")
        summary = warehouse_summary(settings)
        if summary is None:
            click.echo("  (another run is writing it now: row counts skipped)")
        for table, rows in summary or []:
            click.echo(f"  {table:<40} {rows:>12,}")
    from finefinance_platform.library_log import library_log_path

    click.echo(f"full logs (dbt, dlt, warnings): {library_log_path(settings)}")
    click.echo("")
    click.echo("next: `.venv/bin/finefinance dashboard` serves the dashboards behind sign-in (demo users:")
    click.echo("      `.venv/bin/finefinance users`); `.venv/bin/finefinance serve` the statements over HTTP;")
    click.echo("      `.venv/bin/finefinance live` keeps today's activity and the advisors' alerts (the Today page)")
    click.echo("      within minutes of the source; `make dev` opens the Dagster UI (http://127.0.0.1:3000)")


@click.command()
@click.option("--once", is_flag=True, help="run one cycle, print what it moved and how long it took, and stop")
@click.option(
    "--interval",
    type=click.FloatRange(min=5),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="seconds between the starts of two cycles",
)
def live(once: bool, interval: float) -> None:
    """Keep today's activity and the advisors' alerts within minutes of the source.

    Each cycle ingests what changed, updates staging (incrementally) and the intraday marts, sends
    new advisor alerts and republishes the serving copy: the Dagster job `live`, which the
    deployment's schedule runs every 5 minutes. Ctrl-C stops between cycles.
    """
    from finefinance_platform.runs.live import run_live
    from finefinance_platform.source.cli import ensure_source_ready

    settings = get_settings()
    if settings.warehouse != "duckdb":
        raise FineFinanceError(
            "finefinance live drives the embedded warehouse; on Snowflake turn on the `live` schedule of the "
            "deployment (docs/production.md)"
        )
    ensure_source_ready()
    if not once:
        click.echo(f"live cycle every {interval:.0f} s; Ctrl-C stops")
    try:
        run_live(settings, once=once, interval=interval, echo=click.echo)
    except KeyboardInterrupt:
        click.echo("stopped")


@click.command()
@click.option("--port", type=int, default=3000, show_default=True)
def dev(port: int) -> None:
    """Open the Dagster UI (webserver + daemon) on the local instance that `finefinance run` uses."""
    import os
    import sys
    from pathlib import Path

    from finefinance_platform.orchestration.instance import ensure_dagster_home
    from finefinance_platform.settings import REPO_ROOT
    from finefinance_platform.source.cli import ensure_source_ready

    settings = get_settings()
    ensure_source_ready()
    home = ensure_dagster_home(settings)
    click.echo(f"Dagster UI on http://127.0.0.1:{port} (instance in {home}); Ctrl-C stops it")
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    # the child inherits the environment: point it at the platform's instance and warehouse, and
    # put this virtualenv first on PATH (under `dagster dev` dagster-dbt re-parses with plain `dbt`)
    venv_bin = str(Path(sys.executable).parent)
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            **settings.dbt_environment(),
            "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "")]),
        }
    )
    # its own process group: a SIGTERM or Ctrl-C to this command stops the whole tree (webserver,
    # daemon, code servers), never leaves it running behind
    child = subprocess.Popen(command, cwd=REPO_ROOT, start_new_session=True)
    raise SystemExit(wait_stopping_the_group_on_signal(child))


# `dagster dev` asks its children to stop and can wait for them for 20 s or more: past this, they
# are killed
GRACE_SECONDS = 6


def wait_stopping_the_group_on_signal(child: subprocess.Popen) -> int:
    """Wait for `child` (a process group leader). A SIGTERM or SIGINT received meanwhile is passed to
    its group; whatever is left of the group GRACE_SECONDS later, or once the leader is gone, is killed.
    Returns the exit code (128 + the signal when stopped by one)."""
    import contextlib
    import os

    received: list[tuple[int, float]] = []

    def forward(signum, _frame) -> None:
        # only forward here: waiting belongs to the loop below (Popen.wait is not reentrant)
        received.append((signum, time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            code = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if received and time.monotonic() - received[0][1] > GRACE_SECONDS:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
    if received:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # members that outlived their leader
        return 128 + received[0][0]
    return code
