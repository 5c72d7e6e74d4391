"""The `finefinance` command line: help everywhere, one-line errors and non-zero exits for bad input."""

import os
import subprocess
import sys

import pytest

from finefinance_platform.settings import REPO_ROOT

CLI = [sys.executable, "-c", "from finefinance_platform.cli import main; main()"]


def finefinance(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "command", [[], ["source"], ["simulate"], ["run"], ["source", "start"], ["statement", "verify"]]
)
def test_every_command_has_help(command):
    result = finefinance(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_bad_month_is_one_clear_line(embedded_postgres):
    result = finefinance("run", "--from", "2024-13")
    assert result.returncode != 0
    assert "--from='2024-13' is not a month (expected YYYY-MM)" in result.stderr
    assert "Traceback" not in result.stderr


def test_from_after_to_is_refused(embedded_postgres):
    result = finefinance("run", "--from", "2025-03", "--to", "2025-01")
    assert result.returncode != 0
    assert "is after --to" in result.stderr


def test_bad_simulation_start_is_refused():
    result = finefinance("simulate", "--start", "March")
    assert result.returncode == 2
    assert "not a month" in result.stderr


def test_port_in_use_is_named(embedded_postgres, tmp_path):
    busy = embedded_postgres.status().port
    env = {"FINEFINANCE_HOME": str(tmp_path), "FINEFINANCE_SOURCE_PORT": str(busy)}
    result = finefinance("source", "start", env=env)
    assert result.returncode == 1
    assert f"port {busy}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_source_down_is_named(tmp_path):
    env = {
        "FINEFINANCE_HOME": str(tmp_path),
        "FINEFINANCE_SOURCE_URL": "postgresql://postgres:x@127.0.0.1:1/finefinance",
    }
    result = finefinance("simulate", "--customers", "5", "--months", "1", env=env)
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_stopped_server_exits_3(tmp_path):
    result = finefinance("source", "status", env={"FINEFINANCE_HOME": str(tmp_path)})
    assert result.returncode == 3
    assert "stopped" in result.stdout
