"""A real PostgreSQL 16 from the `pgserver` wheel's binaries, on 127.0.0.1 over TCP.

pgserver's own `get_server()` listens on a Unix socket only, and ConnectorX and Airbyte need TCP, so
this module runs `initdb`/`pg_ctl` from the wheel itself. As root, PostgreSQL refuses to run: the
server then runs as pgserver's unprivileged system user. The port it listens on is recorded in
`<home>/postgres/server.json`, which the settings read to build the source URL.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.file_lock import held
from finefinance_platform.settings import DEFAULT_EMBEDDED_PORT, SOURCE_DATABASE, Settings
from finefinance_platform.source.migrations import apply_migrations

_SYSTEM_USER = "pgserver"  # the user pgserver itself creates when run as root


class SourceError(FineFinanceError):
    """The embedded source cannot be started, reached or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    port: int | None
    pid: int | None
    data_dir: Path

    def describe(self) -> str:
        if not self.running:
            return f"embedded PostgreSQL is stopped (data in {self.data_dir})"
        return (
            f"embedded PostgreSQL is running (pid {self.pid}) on 127.0.0.1:{self.port}, "
            f"database {SOURCE_DATABASE}, data in {self.data_dir}"
        )


def _pgserver():
    """pgserver's modules; importing it warns about XDG_RUNTIME_DIR, which it never uses for us."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver._commands
        import pgserver.utils

    return pgserver


def _bin(name: str) -> str:
    return str(_pgserver()._commands.POSTGRES_BIN_PATH / name)


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` (the embedded services' port choice)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_loopback_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie or a recycled pid is not our postmaster
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return True
    return cmdline.endswith(b"postgres")


class EmbeddedPostgres:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.root = settings.postgres_dir
        self.data_dir = self.root / "data"
        self.state_file = self.root / "server.json"
        self.log_file = self.root / "postgres.log"

    # -- helpers ------------------------------------------------------------------------------
    def _run_as(self) -> dict:
        return {"user": _SYSTEM_USER} if os.geteuid() == 0 else {}

    def _prepare_root_user(self) -> None:
        if os.geteuid() != 0:
            return
        import pwd

        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
        # the unprivileged user must reach the data folder and run the wheel's binaries
        ensure_prefix_permissions(self.root)
        # pgserver opens the folders above the data to reading as well (g+rx, o+rx); inside the
        # platform's home passing through is all it needs: the home stays unlistable (private_home.py)
        from finefinance_platform.private_home import passages_to_postgres

        for folder in passages_to_postgres(self.settings.home, self.root)[:-1]:
            folder.chmod(folder.stat().st_mode & ~0o066)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        user = pwd.getpwnam(_SYSTEM_USER)
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    def _postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _recorded_port(self) -> int | None:
        if self.state_file.exists():
            try:
                return int(json.loads(self.state_file.read_text())["port"])
            except (OSError, ValueError, KeyError):
                return None
        return None

    def _ready(self, port: int) -> bool:
        result = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False)
        return result.returncode == 0

    # -- public -------------------------------------------------------------------------------
    def status(self) -> ServerStatus:
        pid = self._postmaster_pid()
        port = self._recorded_port()
        running = pid is not None and _pid_alive(pid) and port is not None and self._ready(port)
        return ServerStatus(running, port if running else None, pid if running else None, self.data_dir)

    def _one_at_a_time(self):
        """Starting and stopping hold `postgres/server.lock`: two commands starting the source
        together would otherwise both see it down and both start a server on one data folder
        (the second on the same port), and a `source stop` could land between a start and its
        migrations."""
        return held(
            self.root / "server.lock", "waiting: another command is starting or stopping the embedded PostgreSQL"
        )

    def start(self) -> ServerStatus:
        """Start (idempotent), create the database and apply pending migrations."""
        with self._one_at_a_time():
            return self._start()

    def _start(self) -> ServerStatus:
        current = self.status()
        if not current.running:
            self._start_server()
            current = self.status()
            if not current.running:
                raise SourceError(f"PostgreSQL did not come up; see {self.log_file}")
        self._ensure_database(current.port)
        return current

    def _start_server(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pid = self._postmaster_pid()
        if pid is not None and not _pid_alive(pid):
            # a crash left postmaster.pid behind; postgres would refuse to start over it
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        elif pid is not None:
            raise SourceError(
                f"a PostgreSQL process (pid {pid}) holds {self.data_dir} but does not answer; "
                "stop it or remove the folder"
            )

        port = self.settings.source_port
        if port is not None:
            if not port_is_free(port):
                raise SourceError(
                    f"port {port} (FINEFINANCE_SOURCE_PORT) is already in use on 127.0.0.1; "
                    "choose another port or unset it to pick a free one"
                )
        else:
            for candidate in (self._recorded_port(), DEFAULT_EMBEDDED_PORT):
                if candidate and port_is_free(candidate):
                    port = candidate
                    break
            else:
                port = free_loopback_port()

        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._prepare_root_user()
        command = [
            _bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
            # TCP on loopback only, no Unix socket: everything connects the same way
            "-o", f"-h 127.0.0.1 -p {port} -k ''",
            "start",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False, **self._run_as())
        if result.returncode != 0:
            log_tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise SourceError(f"pg_ctl start failed: {result.stderr.strip()}\n{log_tail}")
        self.state_file.write_text(json.dumps({"port": port, "data_dir": str(self.data_dir)}))

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made folder from an interrupted initdb
        self.data_dir.mkdir(parents=True)
        with tempfile.NamedTemporaryFile("w", dir=self.root, suffix=".pw", delete=False) as pwfile:
            pwfile.write(self.settings.source_superuser_password)
        try:
            self._prepare_root_user()
            command = [
                _bin("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--encoding=UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={pwfile.name}",
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=False, **self._run_as())
            if result.returncode != 0:
                raise SourceError(f"initdb failed: {result.stderr.strip()}")
        finally:
            os.unlink(pwfile.name)
        # bulk loads and a laptop-sized server: favour throughput over crash durability of the
        # last seconds (the simulator can always regenerate; the warehouse never depends on it).
        # wal_level=minimal lets COPY into a table truncated in the same transaction skip the WAL.
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# finefinance embedded defaults\n"
                "shared_buffers = 256MB\nmax_wal_size = 4GB\nsynchronous_commit = off\n"
                "wal_level = minimal\nmax_wal_senders = 0\n"
                "timezone = 'UTC'\nmax_connections = 100\n"
            )

    def _ensure_database(self, port: int) -> None:
        admin = self.settings.source_url(database="postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(admin)
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        with closing(conn):
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (SOURCE_DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f"create database {SOURCE_DATABASE}")
        apply_migrations(self.settings.source_url(), self.settings.source_reader_password)

    def stop(self) -> ServerStatus:
        with self._one_at_a_time():
            return self._stop()

    def _stop(self) -> ServerStatus:
        pid = self._postmaster_pid()
        if pid is not None and _pid_alive(pid):
            command = [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            result = subprocess.run(command, capture_output=True, text=True, check=False, **self._run_as())
            if result.returncode != 0:
                raise SourceError(f"pg_ctl stop failed: {result.stderr.strip()}")
        return self.status()
