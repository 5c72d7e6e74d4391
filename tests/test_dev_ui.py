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
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: do not leave the UI behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
