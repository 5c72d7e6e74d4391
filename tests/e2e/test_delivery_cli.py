"""`finefinance statement`, `statements export` and `access-log` through the real entry point (`main()`)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pypdf
import pytest
from helpers.delivery_fixtures import correct_booking, issue_time, make_delivery_home, uid

from finefinance_platform.cli import main
from finefinance_platform.months import add_months, current_month
from finefinance_platform.statements import export


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(autouse=True)
def env(home, monkeypatch):
    for name, value in home.env().items():
        monkeypatch.setenv(name, value)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `finefinance <args>` in this process; (exit code, stdout, stderr)."""
    old_argv = sys.argv
    sys.argv = ["finefinance", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    out, err = capsys.readouterr()
    return code, out, err


def test_statement_pdf_and_csv(home, tmp_path, capsys):
    month = home.months[3]
    pdf_path = tmp_path / "alice.pdf"
    code, out, err = run_cli(
        capsys, "statement", "--customer-id", uid("alice"), "--month", f"{month:%Y-%m}", "--format", "pdf",
        "--output", str(pdf_path),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert (
        f"wrote {pdf_path} (Alice Durand, {month:%Y-%m} version 1 issued on {issue_time(month).date()}: "
        "2 account(s), 5 transaction(s))"
    ) in out
    text = pypdf.PdfReader(pdf_path).pages[0].extract_text()
    assert "Customer: Alice Durand" in text and "9,334.04 EUR" in text  # 4 x 2,333.51

    csv_path = tmp_path / "alice.csv"
    code, _, _ = run_cli(
        capsys, "statement", "--customer-id", uid("alice"), "--month", f"{month:%Y-%m}", "--format", "csv",
        "--output", str(csv_path),
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 5
    assert sum(Decimal(r["amount"]) for r in rows if r["direction"] == "credit") == Decimal("3500.00")
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


@pytest.mark.parametrize(
    ("customer", "month", "message"),
    [
        ("nobody", "months[1]", "error: unknown customer 'nobody'"),
        ("emma", "months[0]", "error: no statement for customer"),  # signs up later
        ("alice", "current", "is not closed yet"),
        ("alice", "future", "is not closed yet"),
        ("alice", "2025-13", "error: --month='2025-13' is not a month (expected YYYY-MM)"),
        ("alice", "March", "error: --month='March' is not a month (expected YYYY-MM)"),
    ],
)
def test_statement_errors_are_one_line_and_leave_the_output_alone(home, tmp_path, capsys, customer, month, message):
    months = {
        "months[0]": f"{home.months[0]:%Y-%m}",
        "months[1]": f"{home.months[1]:%Y-%m}",
        "current": f"{current_month():%Y-%m}",
        "future": f"{add_months(current_month(), 2):%Y-%m}",
    }
    output = tmp_path / "statement.pdf"
    output.write_bytes(b"previous statement")
    customer_id = customer if customer == "nobody" else uid(customer)
    code, out, err = run_cli(
        capsys, "statement", "--customer-id", customer_id, "--month", months.get(month, month), "--output", str(output)
    )
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert output.read_bytes() == b"previous statement"


def test_export_writes_every_customer_of_the_month(home, capsys):
    month = home.months[2]
    code, out, err = run_cli(capsys, "statements", "export", "--month", f"{month:%Y-%m}")
    assert code == 0, err
    folder = home.home / "statements" / f"{month:%Y-%m}"
    customers = sorted(uid(key) for key in ("alice", "bruno", "chloe", "didier", "emma"))
    assert sorted(p.stem for p in folder.glob("*.pdf")) == customers
    assert sorted(p.stem for p in folder.glob("*.csv")) == customers
    assert f"exported 5 customers' statements for {month:%Y-%m} to {folder}: 5 rendered (10 files)" in out
    assert "statements " in err  # tqdm's progress bar

    # again: every file already holds its issued version, nothing is rendered; a file removed is
    # rendered again, alone
    pdfs = {p.name: p.read_bytes() for p in folder.glob("*.pdf")}
    code, out, err = run_cli(capsys, "statements", "export", "--month", f"{month:%Y-%m}")
    assert code == 0 and ": 0 rendered (0 files)" in out and "5 already held their issued version" in out
    (folder / f"{uid('bruno')}.pdf").unlink()
    code, out, err = run_cli(capsys, "statements", "export", "--month", f"{month:%Y-%m}")
    assert code == 0 and ": 1 rendered (1 files)" in out and "4 already held their issued version" in out
    assert {p.name: p.read_bytes() for p in folder.glob("*.pdf")} == pdfs

    code, out, _ = run_cli(capsys, "statements", "export", "--month", f"{home.months[0]:%Y-%m}", "--format", "csv")
    assert code == 0 and "4 customers' statements" in out and "4 rendered (4 files)" in out  # Emma had no account yet


def test_export_of_an_open_month_is_refused(capsys):
    code, _, err = run_cli(capsys, "statements", "export", "--month", f"{current_month():%Y-%m}")
    assert code == 1 and "is not closed yet" in err


def test_the_operators_statement_reads_are_in_the_access_log(capsys, home, tmp_path):
    import getpass

    month = f"{home.months[-1]:%Y-%m}"
    code, _, _ = run_cli(capsys, "statement", "--customer-id", uid("chloe"), "--month", month, "--format", "csv",
                         "--output", str(tmp_path / "chloe.csv"))  # fmt: skip
    assert code == 0
    code, _, _ = run_cli(capsys, "statement", "--customer-id", "nobody", "--month", month)
    assert code == 1
    code, out, _ = run_cli(capsys, "access-log", "--limit", "2")
    assert code == 0
    header, *rows = [line.split("\t") for line in out.splitlines()[1:]]
    assert header[:8] == [
        "accessed_at",
        "subject",
        "role",
        "action",
        "customer_id",
        "month_start",
        "outcome",
        "channel",
    ]
    assert [row[1:8] for row in rows] == [
        [f"os:{getpass.getuser()}", "operations", "download_pdf", "nobody", f"{month}-01", "denied", "cli"],
        [f"os:{getpass.getuser()}", "operations", "download_csv", uid("chloe"), f"{month}-01", "allowed", "cli"],
    ]


def test_installed_entry_point_reports_errors_on_one_line(home):
    """The real console script, in a child process, as a user runs it."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "finefinance"), "statement", "--customer-id", "nobody", "--month",
         f"{home.months[0]:%Y-%m}", "--output", "/dev/null"],
        capture_output=True, text=True, timeout=120, env={**home.env(), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown customer 'nobody': not in marts.dim_customer"


def test_export_in_a_process_pool_writes_the_same_files(home, tmp_path, monkeypatch):
    month = home.months[1]
    monkeypatch.setattr(export, "PARALLEL_THRESHOLD", 1)  # the pool even for the small bank
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        alone = export.export_month(con, month, folder=tmp_path / "alone", workers=1)
        pooled = export.export_month(con, month, folder=tmp_path / "pool", workers=2)
    assert (alone.customers, alone.files) == (pooled.customers, pooled.files) == (4, 8)
    for path in sorted((tmp_path / "alone").iterdir()):
        # issued versions render to the same bytes, whoever renders them
        assert (tmp_path / "pool" / path.name).read_bytes() == path.read_bytes()


def test_a_rendering_process_that_dies_loses_no_statement(home, tmp_path, monkeypatch):
    """The pool breaks after one statement (a process killed): the rest are rendered in this process."""
    from concurrent.futures.process import BrokenProcessPool

    class DyingPool:
        def __init__(self, **_options):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        def map(self, function, jobs, chunksize=1):
            yield function(jobs[0])
            raise BrokenProcessPool("a process in the process pool was terminated abruptly")

    month = home.months[1]
    monkeypatch.setattr(export, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(export, "ProcessPoolExecutor", DyingPool)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        result = export.export_month(con, month, folder=tmp_path / "pool", workers=2)
        alone = export.export_month(con, month, folder=tmp_path / "alone", workers=1)
    assert (result.customers, result.files) == (alone.customers, alone.files) == (4, 8)
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == sorted(
        p.name for p in (tmp_path / "alone").iterdir()
    )


def test_every_version_is_downloadable_and_verifiable(home, tmp_path, capsys):
    """Emma's bookshop payment of the third month was 82.25, not 80.25: a correction at the source.
    (Last in this module: it issues Emma's version 2 of the third and fourth months.)"""
    month = home.months[2]
    correct_booking(home, "emma-card-2", "82.25")
    customer = ("statement", "--customer-id", uid("emma"), "--month", f"{month:%Y-%m}")
    files = {}
    for version, fmt in ((1, "pdf"), (2, "pdf"), (1, "csv"), (None, "csv")):
        files[(version, fmt)] = tmp_path / f"emma-v{version}.{fmt}"
        chosen = ("--version", str(version)) if version else ()
        code, out, err = run_cli(capsys, *customer, *chosen, "--format", fmt, "--output", str(files[(version, fmt)]))
        assert (code, err) == (0, ""), err
    assert "version 2 issued on" in out and "corrects version 1" in out  # the latest by default

    first, second = (pypdf.PdfReader(files[(v, "pdf")]).pages[0].extract_text() for v in (1, 2))
    # Emma's third month: 300.00 in, the bookshop out
    assert "80.25" in first and "Closing balance on" in first and "219.75 EUR" in first
    assert "82.25" in second and "217.75 EUR" in second
    assert f"Version: 2 - corrects the statement issued on {issue_time(month).date()}" in second
    latest_csv = list(csv.DictReader(io.StringIO(files[(None, "csv")].read_text())))
    assert [row["amount"] for row in latest_csv] == ["300.00", "82.25"]

    described = f"of the statement of customer {uid('emma')} for {month:%Y-%m}"
    code, out, _ = run_cli(capsys, "statement", "verify", str(files[(1, "pdf")]))
    assert code == 0 and f"authentic: version 1 {described}" in out and "replaced by version 2" in out
    code, out, _ = run_cli(capsys, "statement", "verify", str(files[(1, "csv")]))
    assert code == 0 and f"authentic: version 1 {described}" in out
    code, out, _ = run_cli(capsys, "statement", "verify", str(files[(2, "pdf")]))
    assert code == 0 and out.strip().endswith("it is the latest version")

    edited = tmp_path / "edited.csv"
    edited.write_text(files[(None, "csv")].read_text().replace(",82.25,", ",8.25,"))
    code, out, err = run_cli(capsys, "statement", "verify", str(edited))
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {edited}: not authentic: the CSV matches no issued version {described}")
    assert err.count("\n") == 1

    code, _, err = run_cli(capsys, *customer, "--version", "3", "--output", str(tmp_path / "v3.pdf"))
    assert code == 1 and f"error: no version 3 {described}: versions 1 to 2 were issued" in err
    assert not (tmp_path / "v3.pdf").exists()
