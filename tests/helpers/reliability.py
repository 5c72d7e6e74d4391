"""Fault injection for the reliability tests (issue 7).

- `run_marked(env, kill_at=...)` runs `run_pipeline` (what `finefinance run` does) in a child
  process that prints a marker line at each point worth crashing at: dlt's extract, normalize and
  load steps, each table's load job once its rows are committed (before dlt records the job as
  done), each dbt model finished. The parent SIGKILLs the child's whole process group (dbt too) as
  soon as the marker it waits for appears: a crash at that very point.
- `FlakyProxy` (run as a child process: ConnectorX holds the GIL while it reads, so a proxy thread in
  the reading process would starve) forwards TCP to the source and goes down, closing every
  connection and its port, after a number of bytes: the source dying in the middle of a read.
- `fingerprint(db)` gives every table's row count, distinct row count and an order-independent
  checksum of its rows (ingestion metadata columns left out), to compare two warehouses exactly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve()
COMPARED_SCHEMAS = ("raw", "snapshots", "marts")


# -- comparing warehouses ----------------------------------------------------------------------


# when a run computed the row, not what it holds: two runs over the same data differ there only
RUN_TIME_COLUMNS = ("as_of", "detected_at")


def fingerprint(db: Path, schemas: tuple[str, ...] = COMPARED_SCHEMAS, extra_tables: tuple[str, ...] = ()) -> dict:
    """{schema.table: (rows, distinct rows, checksum)} without the ingestion's own columns and the
    intraday marts' run times."""
    with duckdb.connect(str(db), read_only=True) as con:
        listed = ", ".join(f"'{schema}'" for schema in schemas)
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                f"select table_schema, table_name from information_schema.tables where table_schema in ({listed}) "
                "and table_type = 'BASE TABLE' and table_name not like '\\_dlt%' escape '\\' order by 1, 2"
            ).fetchall()
        ] + list(extra_tables)
        prints = {}
        for qualified in tables:
            schema, name = qualified.split(".")
            columns = [
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "and column_name not like '\\_dlt%' escape '\\' order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if row[0] not in RUN_TIME_COLUMNS
            ]
            listed_columns = ", ".join(f'"{c}"' for c in columns)
            prints[qualified] = con.execute(
                f"select count(*), count(distinct ({listed_columns})), "
                f'coalesce(sum(hash({listed_columns})::hugeint), 0) from "{schema}"."{name}"'
            ).fetchone()
    return prints


def differences(actual: dict, expected: dict) -> dict:
    tables = sorted(set(actual) | set(expected))
    return {t: (actual.get(t), expected.get(t)) for t in tables if actual.get(t) != expected.get(t)}


def platform_child_env(source_dsn: str, warehouse: Path, home: Path) -> dict[str, str]:
    """The environment of a child that runs the platform on this source, warehouse and home."""
    from helpers.environment import reader_dsn

    return {
        **os.environ,
        "FINEFINANCE_HOME": str(home),
        "FINEFINANCE_SOURCE_URL": source_dsn,
        "FINEFINANCE_SOURCE_READER_URL": reader_dsn(source_dsn),
        "FINEFINANCE_DUCKDB_PATH": str(warehouse),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parents[1]), os.environ.get("PYTHONPATH")])),
    }


# -- crashing a run at a marker -----------------------------------------------------------------


@dataclass
class Outcome:
    killed: bool
    returncode: int | None
    lines: list[str] = field(default_factory=list)
    report: dict | None = None
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def run_marked(env: dict, kill_at: str | None = None, args: tuple[str, ...] = (), timeout: float = 600) -> Outcome:
    """Run the pipeline in a child; SIGKILL its process group when a line starts with `MARK <kill_at>`."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, str(HERE), "run", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    outcome = Outcome(killed=False, returncode=None)
    timer = threading.Timer(timeout, lambda: os.killpg(child.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in child.stdout:
            outcome.lines.append(line.rstrip())
            if line.startswith("REPORT "):
                outcome.report = json.loads(line[len("REPORT ") :])
            if kill_at and line.startswith(f"MARK {kill_at}"):
                os.killpg(child.pid, signal.SIGKILL)
                outcome.killed = True
                break
        child.wait()
        if outcome.killed:
            _wait_until_the_group_is_gone(child.pid)
    finally:
        timer.cancel()
        child.stdout.close()
    outcome.returncode = child.returncode
    outcome.seconds = time.monotonic() - started
    return outcome


def _wait_until_the_group_is_gone(group: int, timeout: float = 30) -> None:
    """SIGKILL reaches a process group at once, but its processes die on their own time: a dbt
    child can still hold the warehouse's lock a moment after the pipeline's process is reaped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for entry in os.listdir("/proc"):
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields: state, parent, process group; a zombie holds no lock any more
            if fields[2] == str(group) and fields[0] != "Z":
                alive = True
                break
        if not alive:
            return
        time.sleep(0.05)


def _install_markers() -> None:
    """In the child: print a marker at each crash point (and hold the load of one table)."""
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
    from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob
    from dlt.pipeline.pipeline import Pipeline

    lock = threading.Lock()

    def mark(text: str) -> None:
        # the process's own stdout: during a run the platform sends sys.stdout (dbt's and dlt's
        # lines) to its library log. One whole line at a time: dlt loads tables in parallel
        # threads, and print() writes the text and its newline apart, so two markers once ran
        # together on one line ("MARK load-job-committed credit_cardMARK load-job-committed
        # transaction") and the run was never killed at the second.
        with lock:
            sys.__stdout__.write(f"MARK {text}\n")
            sys.__stdout__.flush()

    for step in ("extract", "normalize", "load"):
        original = getattr(Pipeline, step)

        def wrapped(self, *args, _original=original, _step=step, **kwargs):
            mark(_step)
            return _original(self, *args, **kwargs)

        setattr(Pipeline, step, wrapped)

    hold_table = os.environ.get("RELIABILITY_HOLD_AFTER_LOADING")
    original_copy = DuckDbCopyJob.run

    def copy_then_mark(self):
        original_copy(self)
        # the table's rows are committed; dlt has not yet recorded the job as complete
        mark(f"load-job-committed {self.load_table_name}")
        if self.load_table_name == hold_table:
            time.sleep(60)  # long enough for the parent to kill us right here

    DuckDbCopyJob.run = copy_then_mark

    original_stream = DbtCliInvocation.stream_raw_events

    def stream_with_marks(self):
        for event in original_stream(self):
            if event.raw_event["info"]["name"] in ("LogModelResult", "LogSnapshotResult"):
                mark(f"dbt-model-done {event.raw_event['data']['node_info']['node_name']}")
            yield event

    DbtCliInvocation.stream_raw_events = stream_with_marks


def _child_run(args: list[str]) -> int:
    from finefinance_platform.errors import FineFinanceError
    from finefinance_platform.months import parse_month
    from finefinance_platform.runs.pipeline import run_pipeline
    from finefinance_platform.settings import get_settings

    _install_markers()
    start, end = (parse_month(month) if month else None for month in (args + [None, None])[:2])
    try:
        report = run_pipeline(get_settings(), start, end, echo=lambda text: print(text, flush=True))
    except FineFinanceError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    print("REPORT " + json.dumps({"months": report.months, "failed_checks": report.failed_checks}), flush=True)
    return 0


# -- a source that goes down mid-read -------------------------------------------------------------


class FlakyProxy:
    """Forwards 127.0.0.1:<port> to the source; after `budget` bytes from the server it goes down."""

    def __init__(self, target_port: int, budget: int | None):
        self.target_port = target_port
        self.budget = budget
        self.forwarded = 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]

    def serve_forever(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, from_server: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_server and self.budget is not None:
                    with self.lock:
                        self.forwarded += len(data)
                        if self.forwarded > self.budget:
                            print(f"DOWN after {self.forwarded} bytes", flush=True)
                            os._exit(0)  # every connection and the port die with the process
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def start_flaky_proxy(target_port: int, budget: int | None) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, str(HERE), "proxy", str(target_port), str(budget or 0)], stdout=subprocess.PIPE, text=True
    )
    return process, int(process.stdout.readline())


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "run":
        sys.exit(_child_run(rest))
    if command == "proxy":
        proxy = FlakyProxy(int(rest[0]), int(rest[1]) or None)
        print(proxy.port, flush=True)
        proxy.serve_forever()
