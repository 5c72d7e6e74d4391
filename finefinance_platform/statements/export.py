"""Every customer's statements of one month, as files: `<statements>/YYYY-MM/<customer_id>.pdf|csv`.

`<statements>` is FINEFINANCE_STATEMENTS_URL: an object store in production (`s3://bucket/statements`,
any fsspec URL), by default the folder `<FINEFINANCE_HOME>/statements`. Paths are universal_pathlib's
`UPath`, the pathlib API over fsspec, so the same code lists, checks and writes either; a local
folder is a plain `pathlib.Path`.

Used by `finefinance statements export` and by the `delivery/statement_documents` asset. The files
are the latest issued version of each statement (delivery.statement_issues, read in one query), so
they are what the customer downloads and render to the same bytes each time. Rendering (the slow
part, fpdf2 is pure Python) runs in a small process pool once there are enough statements to repay
starting it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from finefinance_platform.settings import Settings
from finefinance_platform.statements.issuing.issued import load_issued_month
from finefinance_platform.statements.model import NoStatementError, Statement, StatementError
from finefinance_platform.statements.render import FORMATS, render

if TYPE_CHECKING:
    from upath import UPath

# One process by default: on the 2-vCPU machines this was measured on, two busy processes each run
# about 2.2x slower (the vCPUs share a core), so a pool of 2 was no faster (1,959 statements at
# scale S: 16-19 s alone, 22-25 s with 2 workers). Where cores are real, `--workers 2` (or more) helps.
DEFAULT_WORKERS = 1
# below this many statements a pool costs more (starting workers, importing fpdf2) than it saves
PARALLEL_THRESHOLD = 300
CHUNK_SIZE = 64


@dataclass(frozen=True)
class ExportResult:
    month: dt.date
    folder: Path
    customers: int
    files: int  # written this time
    seconds: float
    rendered: int = 0  # statements rendered this time; the others' files already held their version

    @property
    def statements_per_second(self) -> float:
        return self.rendered / self.seconds if self.seconds else float("inf")


logger = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file next to `path`, then rename: a reader sees the old or new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        # mkstemp's 0600 is kept: a statement is customer data, for the platform's user only
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def statements_root(settings: Settings) -> UPath:
    # imported here: upath brings fsspec (0.14 s), which the code location's load does not need
    from upath import UPath

    return UPath(settings.statements_location)


def statements_folder(month: dt.date, settings: Settings) -> UPath:
    return statements_root(settings) / f"{month:%Y-%m}"


def statement_file(folder: Path, customer_id: str, fmt: str) -> Path:
    return folder / f"{customer_id}.{fmt}"


def write_document(path: Path, data: bytes) -> None:
    """Write a statement file whole or not at all: on a disk through a temporary file and a rename;
    an object store never shows a partly written object."""
    if isinstance(path, Path):
        write_atomically(path, data)
    else:
        path.write_bytes(data)


def files_in(folder: Path) -> set[str]:
    """The names of the files in `folder` (none when it does not exist): one listing, not one
    request per file, which matters on an object store."""
    if not folder.exists():
        return set()
    return {entry.name for entry in folder.iterdir()}


# Which issued version each file of a month holds, `<customer_id>.<fmt>` -> `<version>:<content hash>`.
# An issued version renders the same bytes forever, so a file whose entry matches is not rendered
# again: re-running a month whose statements did not change writes nothing.
RENDERED_MANIFEST = ".rendered.json"


def _version_key(statement: Statement) -> str:
    return f"{statement.issue.version}:{statement.issue.content_sha256}" if statement.issue else ""


def _read_manifest(folder: Path) -> dict[str, str]:
    path = folder / RENDERED_MANIFEST
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # unreadable: every file is rendered again, which gives the same bytes


def parse_formats(value: str) -> tuple[str, ...]:
    if value == "both":
        return FORMATS
    if value in FORMATS:
        return (value,)
    raise StatementError(f"format {value!r} is not one of pdf, csv, both")


def _render_and_write(job: tuple[Statement, Path, tuple[str, ...]]) -> int:
    statement, folder, formats = job
    for fmt in formats:
        write_document(statement_file(folder, statement.customer_id, fmt), render(statement, fmt))
    return len(formats)


def export_month(
    con,
    month: dt.date,
    folder: Path,
    formats: Sequence[str] = FORMATS,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
) -> ExportResult:
    started = time.perf_counter()
    statements = load_issued_month(con, month)
    if not statements:
        raise NoStatementError(
            f"no issued statements for {month:%Y-%m}: delivery.statement_issues has no row for it "
            "(materialize delivery/statement_issues for that month)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    manifest, present = _read_manifest(folder), files_in(folder)

    def stale(statement: Statement) -> tuple[str, ...]:
        key = _version_key(statement)
        return tuple(
            fmt
            for fmt in formats
            if not key or manifest.get(name := f"{statement.customer_id}.{fmt}") != key or name not in present
        )

    jobs = [(statement, folder, todo) for statement in statements if (todo := stale(statement))]
    bar = tqdm(total=len(jobs), desc=f"statements {month:%Y-%m}", unit="stmt", disable=not progress)
    files = 0
    with bar:
        done = 0
        if workers > 1 and len(jobs) >= PARALLEL_THRESHOLD:
            # forkserver: workers do not inherit the parent's threads (DuckDB's, Dagster's)
            context = multiprocessing.get_context("forkserver")
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                    for written in pool.map(_render_and_write, jobs, chunksize=CHUNK_SIZE):
                        files, done = files + written, done + 1
                        bar.update()
            except BrokenProcessPool:
                # a rendering process died (killed, out of memory): the statements it had are
                # rendered here instead; each file is written whole or not at all, so none is lost
                logger.warning(
                    "statements %s: a rendering process died after %d of %d statements; rendering the rest "
                    "in this process",
                    f"{month:%Y-%m}",
                    done,
                    len(jobs),
                )
        for job in jobs[done:]:
            files += _render_and_write(job)
            bar.update()
    if jobs:
        # written after the files: a run that stops half way leaves entries only for files it wrote
        for statement, _, todo in jobs:
            manifest.update({f"{statement.customer_id}.{fmt}": _version_key(statement) for fmt in todo})
        write_document(folder / RENDERED_MANIFEST, json.dumps(manifest, sort_keys=True).encode())
    return ExportResult(month, folder, len(statements), files, time.perf_counter() - started, rendered=len(jobs))
