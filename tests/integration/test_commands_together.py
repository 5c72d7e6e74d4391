"""Commands started together on one home (issue 26): every pair finishes, or waits and says so.

Each pair is started at the same moment (the commands wait on a barrier file, then start), on a
copy of one home as a month build left it (the XS platform's warehouse, Dagster instance, dlt
folder, serving copy and statement files). Each command must end with its normal result (exit 0,
no traceback) or wait for the other and say for what; afterwards the warehouse, the serving copy,
the issued statements, the statement files and the access log must hold what the same commands run
one after the other give (table checksums compared, not assumed).

`make stress` runs the same matrix FINEFINANCE_STRESS_REPEATS times per pair (not in CI).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest
from helpers.delivery_fixtures import provider_processes
from helpers.environment import clone_source, reader_dsn

from finefinance_platform.months import add_months, current_month
from finefinance_platform.settings import child_environment, load_settings
from finefinance_platform.source.embedded_postgres import free_loopback_port
from finefinance_platform.source.tables import SOURCE_TABLES

FINEFINANCE = str(Path(sys.executable).parent / "finefinance")
DAGSTER = str(Path(sys.executable).parent / "dagster")
MONTH = add_months(current_month(), -1).strftime("%Y-%m")
STRESS = int(os.environ.get("FINEFINANCE_STRESS_REPEATS", "0"))


# The pairs CI leaves to `make stress`: each needs this file's own platform (a minute to build) and
# a minute or more of commands. In CI, two writers meet in tests/integration/test_reliability_faults.py
# (two runs at once) and tests/integration/test_live.py (a live cycle beside a month build), readers
# and publishes in tests/integration/test_delivery_serving.py; the cause of the crash the issue saw
# (loading the definitions touched the dlt folder) is guarded here by the first test.
STRESS_ONLY = pytest.mark.stress


def repeats(in_ci: int) -> int:
    return STRESS or in_ci


WAITING = "waiting for another run to finish"
# columns that say when a run computed, loaded or issued something: they differ between any two runs
RUN_TIME_COLUMNS = {"_dlt_load_id", "_dlt_id", "as_of", "detected_at", "issued_at", "published_at"}


@dataclass
class World:
    """One home; `reset()` puts back the state the base month build left, at the same paths (the
    home's state names its warehouse by path)."""

    root: Path
    base: Path
    env: dict

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    def settings(self):
        return load_settings(self.env)

    def reset(self) -> None:
        self.stop_services()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(self.base, self.root, symlinks=True)

    def stop_services(self) -> None:
        from finefinance_platform.identity.provider import EmbeddedIdentityProvider

        if (self.home / "identity").exists():
            EmbeddedIdentityProvider(self.settings()).stop()


def argv(args: list[str]) -> list[str]:
    """A `finefinance` command, or a Dagster one (DAGSTER_RUN) as given."""
    return list(args) if args[0] == DAGSTER else [FINEFINANCE, *args]


def command(world: World, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv(list(args)), env=world.env, capture_output=True, text=True, timeout=timeout)


def started_together(world: World, *commands: list[str], timeout: float = 900) -> list[subprocess.CompletedProcess]:
    """Start each command when a barrier file appears (all at the same moment); their results."""
    barrier = world.root / f"go-{time.monotonic_ns()}"
    wait = f'while [ ! -e "{barrier}" ]; do sleep 0.005; done; exec "$0" "$@"'
    processes = [
        subprocess.Popen(["sh", "-c", wait, *argv(args)], env=world.env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for args in commands
    ]  # fmt: skip
    time.sleep(0.3)  # every shell is up and polling
    barrier.touch()
    results = []
    for args, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return results


def assert_finished(result: subprocess.CompletedProcess, normal: str) -> None:
    output = result.stdout + result.stderr
    name = " ".join(result.args)
    assert result.returncode == 0, f"{name} exited {result.returncode}: {output[-3000:]}"
    assert "Traceback" not in output, f"{name}: {output[-3000:]}"
    assert "Could not set lock" not in output, f"{name}: {output[-3000:]}"
    assert normal in result.stdout, f"{name}: {output[-3000:]}"


def assert_one_waited(results: list[subprocess.CompletedProcess]) -> None:
    """Two writers started together: the second says it waits for the first (a run takes far
    longer than starting one), then does its work."""
    waited = [result for result in results if WAITING in result.stdout]
    assert len(waited) == 1, [result.stdout[-1500:] for result in results]


# -- what a home holds ---------------------------------------------------------------------------


def checksums(path: Path, schemas: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(rows, checksum of the rows) of every table of `schemas`, run-time columns left out."""
    result = {}
    with duckdb.connect(":memory:") as con:
        con.execute(f"attach '{path}' as w (read_only)")
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = 'w' "
            f"and table_type = 'BASE TABLE' and table_schema in ({', '.join('?' * len(schemas))})",
            list(schemas),
        ).fetchall()
        for schema, table in tables:
            columns = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = 'w' "
                    "and table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in RUN_TIME_COLUMNS
            ]
            # dlt's own bookkeeping (its loads, its state) is all load ids and times: counted only
            values = ", ".join(f'"{name}"' for name in columns) if not table.startswith("_dlt_") else "null"
            result[f"{schema}.{table}"] = con.execute(
                f'select count(*), coalesce(sum(hash({values}))::hugeint, 0) from w."{schema}"."{table}"'
            ).fetchone()
    return result


def access_rows(world: World) -> list[tuple]:
    from finefinance_platform.access.access_log import read

    rows = read(world.settings(), limit=100_000)
    return sorted((r.subject, r.role, r.action, r.customer_id, r.month_start, r.outcome, r.channel, r.detail)
                  for r in rows)  # fmt: skip


def statement_files(world: World) -> dict[str, str]:
    root = world.home / "statements"
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(".tmp")
    }


def held(world: World) -> dict:
    """What the home holds after the commands: the warehouse, the serving copy (its issued
    statements included), the statement files and the access log."""
    schemas = ("raw", "snapshots", "staging", "intermediate", "marts", "delivery")
    return {
        "warehouse": checksums(world.warehouse, schemas),
        "serving copy": checksums(world.home / "serving" / "marts.duckdb", ("marts", "delivery")),
        "statement files": statement_files(world),
        "access log": access_rows(world),
        "leftovers": sorted(str(p.relative_to(world.home)) for p in world.home.rglob("*.tmp")),
    }


def assert_same(actual: dict, expected: dict) -> None:
    for part in expected:
        if isinstance(expected[part], dict):
            differ = sorted(k for k in {*expected[part], *actual[part]} if expected[part].get(k) != actual[part].get(k))
            assert not differ, f"{part} differs from the serial run's: {differ[:20]}"
        else:
            assert actual[part] == expected[part], f"{part} differs from the serial run's"


# -- the home ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(xs_platform, embedded_postgres, tmp_path_factory):
    """A home on its own copy of the XS source, as `finefinance run --from M --to M` left it."""
    dsn = clone_source(xs_platform, "together")
    root = tmp_path_factory.mktemp("together")
    base = root / "base"
    env = child_environment(
        {
            "FINEFINANCE_HOME": str(root / "world" / "home"),
            "FINEFINANCE_SOURCE_URL": dsn,
            "FINEFINANCE_SOURCE_READER_URL": reader_dsn(dsn),
            "FINEFINANCE_DUCKDB_PATH": str(root / "world" / "home" / "warehouse.duckdb"),
            "FINEFINANCE_IDENTITY_PORT": None,
            # what `make dev` gives the daemon's runs (runs/cli.py)
            "DAGSTER_HOME": str(root / "world" / "home" / "dagster"),
            "FINEFINANCE_INGESTION": "dlt",
        }
    )
    world = World(root / "world", base, env)
    world.home.mkdir(parents=True, mode=0o700)
    shutil.copy(xs_platform["warehouse"], world.warehouse)
    built = command(world, "run", "--from", MONTH, "--to", MONTH)
    assert_finished(built, f"1 month(s) {MONTH}")
    shutil.copytree(world.root, base, symlinks=True)
    yield world
    world.stop_services()


def serial(world: World, *commands: list[str], prepare=None) -> dict:
    world.reset()
    if prepare:
        prepare(world)
    for args in commands:
        assert command(world, *args).returncode == 0
    return held(world)


RUN = ["run", "--from", MONTH, "--to", MONTH]
LIVE = ["live", "--once"]
EXPORT = ["statements", "export", "--month", MONTH]


def daemon_run(job: str, tags: dict | None = None) -> list[str]:
    """A run as the Dagster daemon launches it under `make dev`: its own process, the code
    location's executor and the home's instance (the daemon's run worker executes the same way)."""
    tagged = ["--tags", json.dumps(tags)] if tags else []
    return [DAGSTER, "job", "execute", "-m", "finefinance_platform.definitions", "-a", "defs", "-j", job, *tagged]


# the late-data sensor's request for the month (sensors.py), and the `live` schedule's run
PARTITION = f"{MONTH}-01"
SENSOR_RUN = daemon_run(
    "close_month", {"dagster/asset_partition_range_start": PARTITION, "dagster/asset_partition_range_end": PARTITION}
)
SCHEDULE_LIVE = daemon_run("live")
DAEMON_WAITING = "waiting for another run to finish"


def test_loading_the_code_location_touches_nothing(tmp_path):
    """Loading the definitions (every command that runs, the UI) opens no pipeline state and
    writes no file: two commands loading them at once share nothing but the code."""
    home = tmp_path / "home"
    home.mkdir()
    env = child_environment({"FINEFINANCE_HOME": str(home), "FINEFINANCE_DUCKDB_PATH": str(home / "w.duckdb")})
    script = "from finefinance_platform.definitions import defs; defs.resolve_asset_graph(); print('loaded')"
    loaded = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, capture_output=True, text=True)
    assert loaded.returncode == 0 and "loaded" in loaded.stdout, loaded.stderr[-3000:]
    assert list(home.rglob("*")) == []


@STRESS_ONLY
def test_run_and_run(world):
    expected = serial(world, RUN, RUN)
    for _ in range(repeats(1)):
        world.reset()
        results = started_together(world, RUN, RUN)
        for result in results:
            assert_finished(result, f"1 month(s) {MONTH}")
        assert_one_waited(results)
        assert_same(held(world), expected)


@STRESS_ONLY
def test_run_and_live(world):
    expected = serial(world, RUN, LIVE)
    for _ in range(repeats(1)):
        world.reset()
        month, live = started_together(world, RUN, LIVE)
        assert_finished(month, f"1 month(s) {MONTH}")
        assert_finished(live, "live cycle in")
        assert_one_waited([month, live])
        assert_same(held(world), expected)


@STRESS_ONLY
def test_live_and_live(world):
    expected = serial(world, LIVE, LIVE)
    for _ in range(repeats(2)):
        world.reset()
        results = started_together(world, LIVE, LIVE)
        for result in results:
            assert_finished(result, "live cycle in")
        assert_one_waited(results)
        assert_same(held(world), expected)


@STRESS_ONLY
def test_statements_export_and_run(world):
    """Both write the month's statement files (the run renders the newest month's): each file is
    written whole, and the folder ends as either order leaves it."""

    def without_files(world: World) -> None:
        shutil.rmtree(world.home / "statements")

    expected = serial(world, EXPORT, RUN, prepare=without_files)
    for _ in range(repeats(1)):
        world.reset()
        without_files(world)
        export, month = started_together(world, EXPORT, RUN)
        assert_finished(export, f"statements for {MONTH}")
        assert_finished(month, f"1 month(s) {MONTH}")
        assert_same(held(world), expected)


# figures of three tables of the serving copy: a copy read whole gives those of one published copy
FIGURES = (
    "select (select count(*) from marts.fct_monthly_statement), (select count(*) from delivery.statement_issues), "
    "(select count(*) from marts.dim_customer), "
    "(select coalesce(sum(closing_balance), 0)::varchar from marts.fct_monthly_statement)"
)
READER_LOOP = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from finefinance_platform.serving.marts import open_marts
    from finefinance_platform.settings import get_settings
    stop, seen = Path(sys.argv[1]), set()
    while not stop.exists():
        with open_marts(get_settings()) as con:
            seen.add(tuple(con.execute(sys.argv[2]).fetchone()))
    print(json.dumps(sorted(seen)))
    """
)


@STRESS_ONLY
def test_readers_while_run_and_live_publish_the_serving_copy(world):
    """`serve` answering requests, `dashboard` answering its health check, `statement` and a reader
    of the serving copy, all while a month build and a live cycle republish it; `serve` and
    `dashboard` start together, and one identity provider serves both."""
    from finefinance_platform.identity.provider import DemoUser, EmbeddedIdentityProvider, customer_username

    world.reset()
    from finefinance_platform.serving.marts import open_marts

    with open_marts(world.settings()) as con:
        customer, name = con.execute(
            "select cast(customer_id as varchar), firstname || ' ' || surname from marts.dim_customer "
            "where customer_id in (select customer_id from marts.fct_monthly_statement where month_start = ?) "
            "order by 1 limit 1",
            [f"{MONTH}-01"],
        ).fetchone()
        whole = con.execute(FIGURES).fetchone()
    serve_port, dashboard_port = free_loopback_port(), free_loopback_port()
    stop = world.root / "stop-readers"
    servers = [
        subprocess.Popen(["sh", "-c", f'while [ ! -e "{world.root / "go"}" ]; do sleep 0.005; done; exec "$0" "$@"',
                          FINEFINANCE, *args], env=world.env, text=True, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for args in (["serve", "--port", str(serve_port)], ["dashboard", "--port", str(dashboard_port)])
    ]  # fmt: skip
    reader = subprocess.Popen([sys.executable, "-c", READER_LOOP, str(stop), FIGURES], env=world.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    writers: list[subprocess.CompletedProcess] = []
    answers, statements = [], []
    try:
        time.sleep(0.3)
        (world.root / "go").touch()
        writer = threading.Thread(target=lambda: writers.extend(started_together(world, RUN, LIVE)))
        writer.start()
        # the dashboard answers once it is up
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{dashboard_port}/_stcore/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard never answered its health check")
        provider = EmbeddedIdentityProvider(world.settings())
        username = customer_username(customer)
        provider.ensure_users([DemoUser(username, "customer", customer, name)])
        token = provider.password_token(username)["access_token"]
        url = f"http://127.0.0.1:{serve_port}/statements/{MONTH}.csv"
        while writer.is_alive() or not answers:
            try:
                response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            except httpx.ConnectError:
                time.sleep(0.5)  # not listening yet
                continue
            answers.append((response.status_code, response.headers.get("X-Statement-Version")))
            out = world.root / f"statement-{len(statements)}.csv"
            statements.append(command(world, "statement", "--customer-id", customer, "--month", MONTH,
                                      "--format", "csv", "--output", str(out)))  # fmt: skip
        writer.join()
        stop.touch()
        seen, reader_errors = reader.communicate(timeout=120)
        # one provider for the home, however many commands wanted one
        status = provider.status()
        assert status.running and provider_processes(provider.root) == [status.pid]
    finally:
        stop.touch()
        for server in servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            try:
                server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        reader.kill()
        world.stop_services()
    month, live = writers
    assert_finished(month, f"1 month(s) {MONTH}")
    assert_finished(live, "live cycle in")
    assert answers and all(answer == (200, "1") for answer in answers), answers
    for result in statements:
        assert_finished(result, f"{MONTH} version 1")
    assert reader.returncode == 0, reader_errors[-3000:]
    # nothing changed at the source: every copy the reader opened was the one in place, whole
    assert {tuple(row) for row in json.loads(seen)} == {tuple(whole)}
    rows = access_rows(world)
    downloads = [row for row in rows if row[6] == "http"]
    assert len(downloads) == len(answers) and all(row[5] == "allowed" for row in downloads)
    assert len([row for row in rows if row[6] == "cli"]) == len(statements)


@STRESS_ONLY
def test_a_reader_gets_the_old_copy_or_the_new_one_whole(world, tmp_path):
    """The serving copy republished again and again (whole, and only the changed tables) while
    another process opens it and reads three of its tables: each read sees one published copy."""
    from finefinance_platform.serving.publish import publish_serving_copy, published_time

    world.reset()
    settings = world.settings()
    smaller = tmp_path / "smaller.duckdb"
    shutil.copy(world.warehouse, smaller)
    with duckdb.connect(str(smaller)) as con:
        con.execute("delete from marts.fct_monthly_statement where month_start = ?", [f"{MONTH}-01"])
        con.execute(
            "delete from marts.dim_customer where customer_id not in (select customer_id from marts.dim_account)"
        )
    figures = {}
    for path in (world.warehouse, smaller):
        with duckdb.connect(str(path), read_only=True) as con:
            figures[path] = con.execute(FIGURES).fetchone()
    assert figures[world.warehouse] != figures[smaller]
    changed = ["marts.fct_monthly_statement", "marts.dim_customer"]
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER_LOOP, str(stop), FIGURES], env=world.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        time.sleep(2)  # the reader is reading
        for round_ in range(repeats(6) * 2):
            source = smaller if round_ % 2 == 0 else world.warehouse
            # every other round copies only the changed tables into a copy of the one in place
            since = published_time(settings) if round_ % 4 < 2 else None
            publish_serving_copy(source, settings, changed_since=since, changed=changed)
        stop.touch()
        seen, errors = reader.communicate(timeout=120)
    finally:
        reader.kill()
    assert reader.returncode == 0, errors[-3000:]
    assert {tuple(row) for row in json.loads(seen)} <= set(figures.values())
    assert not list((world.home / "serving").glob("*.tmp")), "no temporary file left behind"


@STRESS_ONLY
def test_source_stop_during_a_run(world):
    """`finefinance source stop` while a month build runs on the home's embedded source: the build
    fails in one line saying the source is unreachable (or finishes, had it read the source first),
    and once the source is back a run ends as a run that was never interrupted."""
    from finefinance_platform.source.embedded_postgres import _bin

    expected = serial(world, RUN)
    world.reset()
    own_source = {**world.env}
    for name in ("FINEFINANCE_SOURCE_URL", "FINEFINANCE_SOURCE_READER_URL", "FINEFINANCE_SOURCE_PORT"):
        own_source.pop(name, None)
    home = World(world.root, world.base, own_source)
    try:
        assert command(home, "source", "start").returncode == 0
        # the XS rows, as the world's source holds them (same keys, same updated_at)
        schemas = sorted({table.schema for table in SOURCE_TABLES})  # banking, crm, product
        rows = [_bin("pg_dump"), "-Fc", "--data-only", *(f"--schema={name}" for name in schemas),
                world.env["FINEFINANCE_SOURCE_URL"]]  # fmt: skip
        dump = subprocess.run(rows, capture_output=True, check=True)
        subprocess.run([_bin("pg_restore"), "--data-only", "--disable-triggers", "-d", home.settings().source_url()],
                       input=dump.stdout, capture_output=True, check=True)  # fmt: skip
        stop, month = started_together(home, ["source", "stop"], RUN)
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
        output = month.stdout + month.stderr
        assert "Traceback" not in output, output[-3000:]
        if month.returncode != 0:
            errors = [line for line in month.stderr.splitlines() if line.startswith("error: ")]
            assert month.returncode == 1 and len(errors) == 1, output[-3000:]
        assert command(home, "source", "start").returncode == 0
        assert_finished(command(home, *RUN), f"1 month(s) {MONTH}")
    finally:
        command(home, "source", "stop")
    held_now = held(home)
    # dlt's own bookkeeping counts the loads, and the interrupted run may have made one
    for part in (held_now, expected):
        part["warehouse"] = {name: value for name, value in part["warehouse"].items() if "._dlt_" not in name}
    assert_same(held_now, expected)


def test_source_start_and_stop_together(tmp_path):
    """Two `source start` on a new home (initdb included), then `source stop` beside `source start`:
    one server for the home, each command finishes, and the home ends as one order or the other
    leaves it (the second start used to find the port taken and fail; a stop could land between a
    start and its migrations)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = child_environment(
        {
            "FINEFINANCE_HOME": str(home),
            "FINEFINANCE_DUCKDB_PATH": str(home / "warehouse.duckdb"),
            "FINEFINANCE_SOURCE_URL": None,
            "FINEFINANCE_SOURCE_READER_URL": None,
            "FINEFINANCE_SOURCE_PORT": str(free_loopback_port()),
            "FINEFINANCE_IDENTITY_PORT": None,
        }
    )
    world = World(tmp_path, tmp_path, env)
    try:
        for _ in range(repeats(1)):
            command(world, "source", "stop")
            shutil.rmtree(home / "postgres", ignore_errors=True)  # a new home each time: initdb included
            starts = started_together(world, ["source", "start"], ["source", "start"])
            for result in starts:
                assert_finished(result, "embedded PostgreSQL is running")
            running = {line for result in starts for line in result.stdout.splitlines() if "is running" in line}
            assert len(running) == 1, running  # the same pid and port for both
            stop, start = started_together(world, ["source", "stop"], ["source", "start"])
            assert_finished(stop, "embedded PostgreSQL is")
            assert_finished(start, "embedded PostgreSQL is running")
            # stop then start leaves it running, start then stop stopped: either, whole (exit 0 or 3)
            assert command(world, "source", "status").returncode in (0, 3)
            assert_finished(command(world, "source", "start"), "embedded PostgreSQL is running")
    finally:
        command(world, "source", "stop")


def assert_daemon_run_finished(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "RUN_SUCCESS" in output, output[-3000:]
    assert "Could not set lock" not in output, output[-3000:]


@STRESS_ONLY
@pytest.mark.parametrize(
    ("cli", "daemon", "normal"),
    [(RUN, SENSOR_RUN, f"1 month(s) {MONTH}"), (LIVE, SCHEDULE_LIVE, "live cycle in")],
    ids=["run+sensor_run", "live+schedule_live"],
)
def test_a_command_and_a_run_the_daemon_launched(world, cli, daemon, normal):
    """Under `make dev` the daemon launches the late-data sensor's month rebuild and the `live`
    schedule's cycle in processes of their own: beside the same command from a shell, one of the
    two waits for the other's run lock and says so (the command on its output, the daemon's run in
    its log), both succeed, and the home holds what the two give one after the other."""
    expected = serial(world, cli, daemon)
    for _ in range(repeats(1)):
        world.reset()
        ours, theirs = started_together(world, cli, daemon)
        assert_finished(ours, normal)
        assert_daemon_run_finished(theirs)
        waited = [WAITING in ours.stdout, DAEMON_WAITING in theirs.stdout + theirs.stderr]
        assert sum(waited) == 1, (ours.stdout[-1500:], (theirs.stdout + theirs.stderr)[-3000:])
        assert_same(held(world), expected)
