"""Where the libraries' own output goes: `<FINEFINANCE_HOME>/logs/finefinance.log`, not the terminal.

A command prints the platform's progress (steps, counts, durations) and nothing else on a clean
run. Warnings and the libraries' log lines (dlt, dagster-dbt, Snowflake's connector, ...) reach the
file through Python's logging; dbt's event lines and dlt's progress are written to `sys.stdout` by
dagster-dbt and dlt themselves, so a Dagster run started from the command line has its standard
output sent to the same file. The UI (`make dev`) still shows all of it in each step's logs.
Errors still reach the terminal: the platform turns them into one-line messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from finefinance_platform.settings import Settings

# what reports through Python's logging or warnings, not the platform's progress: the libraries,
# and the platform's own log lines (each alert is also in audit.alerts, Slack when set, and the run's
# summary of failed checks; 20 advisor alerts of a first build are not a newcomer's progress)
LIBRARY_LOGGERS = (
    "py.warnings",
    "dlt",
    "dagster_dlt",
    "dagster_dbt",
    "snowflake",
    "urllib3",
    "alembic",
    "finefinance",
    "finefinance_platform",
)


def library_log_path(settings: Settings) -> Path:
    return settings.home / "logs" / "finefinance.log"


def send_library_messages_to_the_log(settings: Settings) -> None:
    try:
        path = library_log_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return  # a home that cannot be written: the command itself will say so
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


@contextlib.contextmanager
def library_output_to_log(settings: Settings) -> Iterator[None]:
    """Standard output of what runs inside (dbt's event lines, dlt's progress) appended to the log."""
    try:
        path = library_log_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        log = path.open("a", encoding="utf-8")
    except OSError:
        yield
        return
    with log, contextlib.redirect_stdout(log):
        yield
