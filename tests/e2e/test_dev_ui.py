"""`make dev`: the Dagster UI starts on the platform's instance and shows the whole asset graph."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from finefinance_platform.settings import REPO_ROOT

QUERY = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited: only its parent's bookkeeping is left


def test_dev_serves_the_asset_graph(embedded_postgres):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from finefinance_platform.cli import main; main()", "dev", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # no virtualenv on PATH, as when a user runs .venv/bin/finefinance without activating it
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    try:
        nodes, deadline = None, time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=QUERY, headers={"Content-Type": "application/json"}
                )
                nodes = json.load(urllib.request.urlopen(request, timeout=10))["data"]["assetNodes"]
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(3)
        assert nodes, "the UI did not show any asset"
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert {"raw/transaction", "marts/fct_monthly_statement", "delivery/statement_documents"} <= keys
        assert {n["groupName"] for n in nodes} >= {"ingestion", "staging", "marts", "delivery"}

        # a SIGTERM to the command alone (as a supervisor sends it) stops the whole tree within 10 s
        tree = _descendants(process.pid)
        assert len(tree) >= 3  # dagster dev, its webserver, its daemon (and code servers)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (alive := [pid for pid in tree if _alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"left running after SIGTERM: {alive}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: do not leave the UI behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
