"""Is this downloaded statement an authentic issued version? (`finefinance statement verify FILE`)

An issued version renders to the same bytes every time (its content and issue date are stored), so
a file is authentic when it is byte for byte the rendering of the version it claims to be:
- a PDF names its version in its metadata (customer, month, version: see pdf.py); that version is
  rendered again and compared;
- a CSV names its month and accounts on every line; the accounts give the customer, and the file
  is compared with the CSV of each issued version of that customer's month.
A CSV without lines names no account: it cannot be identified, and the answer says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from finefinance_platform.delivery.issues import IssueRecord, issued_versions, load_issued_statement
from finefinance_platform.delivery.pdf import IDENTITY_PATTERN
from finefinance_platform.delivery.statement import CSV_COLUMNS, StatementError, render
from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import parse_month


class NotTheirsError(StatementError):
    """The file names a statement of someone else than the customer asking (the service says 404)."""


@dataclass(frozen=True)
class Verification:
    authentic: bool
    message: str  # one line, for people
    format: str | None = None  # pdf | csv; None when not recognised
    customer_id: str | None = None
    month: dt.date | None = None
    version: int | None = None  # the version the file is (authentic) or claims to be
    issued_at: dt.datetime | None = None
    latest_version: int | None = None
    latest_issued_at: dt.datetime | None = None

    @property
    def replaced(self) -> bool:
        return self.authentic and self.latest_version is not None and self.latest_version != self.version

    def as_dict(self) -> dict:
        return {
            "authentic": self.authentic,
            "message": self.message,
            "format": self.format,
            "customer_id": self.customer_id,
            "month": f"{self.month:%Y-%m}" if self.month else None,
            "version": self.version,
            "issued_on": self.issued_at.date().isoformat() if self.issued_at else None,
            "latest_version": self.latest_version,
            "latest_issued_on": self.latest_issued_at.date().isoformat() if self.latest_issued_at else None,
            "replaced": self.replaced,
        }


def _unidentified(reason: str, fmt: str | None = None) -> Verification:
    return Verification(False, f"cannot verify: {reason}", format=fmt)


def _authentic(fmt: str, record: IssueRecord, versions: list[IssueRecord]) -> Verification:
    latest = versions[-1]
    if latest.version == record.version:
        status = "it is the latest version"
    else:
        status = (
            f"replaced by version {latest.version}, issued on {latest.issued_at.date().isoformat()} "
            "(download the latest)"
        )
    return Verification(
        True, f"authentic: {record.describe()}; {status}", fmt, record.customer_id, record.month,
        record.version, record.issued_at, latest.version, latest.issued_at,
    )  # fmt: skip


def _forged(fmt: str, customer_id: str, month: dt.date, claimed: IssueRecord | None, versions, why: str):
    latest = versions[-1] if versions else None
    return Verification(
        False, f"not authentic: {why}", fmt, customer_id, month,
        claimed.version if claimed else None, claimed.issued_at if claimed else None,
        latest.version if latest else None, latest.issued_at if latest else None,
    )  # fmt: skip


def verify_document(con, data: bytes, customer_id: str | None = None) -> Verification:
    """Whether `data` (a PDF or CSV statement) is an authentic issued version, and which.

    With `customer_id` (the statement service's signed-in customer), a file that names anyone
    else's statement raises NotTheirsError before anything about it is looked up.
    """
    if data.startswith(b"%PDF"):
        return _verify_pdf(con, data, customer_id)
    return _verify_csv(con, data, customer_id)


def pdf_identity(data: bytes) -> tuple[str, dt.date, int] | None:
    """(customer id, month, version) from the PDF's metadata, or None."""
    found = IDENTITY_PATTERN.search(data)
    if found is None:
        keywords = _keywords_with_pypdf(data)  # an editor may have compressed the metadata
        found = IDENTITY_PATTERN.search(keywords.encode("latin-1", "replace")) if keywords else None
    if found is None:
        return None
    customer_id, month, version = (group.decode("ascii") for group in found.groups())
    return customer_id, parse_month(month), int(version)


def _keywords_with_pypdf(data: bytes) -> str | None:
    try:
        import pypdf  # a development dependency: without it, metadata must be readable as written
    except ImportError:
        return None
    try:
        metadata = pypdf.PdfReader(io.BytesIO(data)).metadata
    except Exception:  # a damaged PDF is simply not identified
        return None
    return str(metadata.get("/Keywords", "")) if metadata else None


def _verify_pdf(con, data: bytes, owner: str | None) -> Verification:
    identity = pdf_identity(data)
    if identity is None:
        return _unidentified("this PDF names no issued statement (no FineFinance statement identity in it)", "pdf")
    customer_id, month, version = identity
    if owner is not None and customer_id != owner:
        raise NotTheirsError(f"the PDF names a statement of customer {customer_id}")
    versions = issued_versions(con, customer_id, month)
    claimed = next((record for record in versions if record.version == version), None)
    if claimed is None:
        return _forged(
            "pdf", customer_id, month, None, versions,
            f"the PDF names version {version} of the statement of customer {customer_id} for {month:%Y-%m}, "
            "which was never issued",
        )  # fmt: skip
    issued = render(load_issued_statement(con, customer_id, month, version), "pdf")
    if issued != data:
        return _forged(
            "pdf", customer_id, month, claimed, versions,
            f"the PDF differs from {claimed.describe()}: it was changed after it was issued",
        )  # fmt: skip
    return _authentic("pdf", claimed, versions)


def _verify_csv(con, data: bytes, owner: str | None) -> Verification:
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error):
        return _unidentified("the file is neither a PDF nor a UTF-8 CSV")
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        return _unidentified("not a FineFinance statement (a PDF, or a CSV with the statement's columns)")
    lines = rows[1:]
    if not lines:
        return _unidentified("this CSV has no lines, so it names no account: it cannot be identified", "csv")
    index = {name: position for position, name in enumerate(CSV_COLUMNS)}
    try:
        accounts = sorted({line[index["account_id"]] for line in lines})
        months = {line[index["month"]] for line in lines}
    except IndexError:
        return _unidentified("a line of this CSV has fewer columns than its header", "csv")
    if len(months) != 1:
        return _unidentified(f"this CSV mixes months ({', '.join(sorted(months))})", "csv")
    try:
        month = parse_month(months.pop())
    except FineFinanceError:
        return _unidentified("the month column of this CSV is not a month", "csv")
    owners = {
        customer_id
        for (customer_id,) in con.execute(
            # one placeholder per account: list parameters are DuckDB's, not Snowflake's
            "select distinct cast(customer_id as varchar) from marts.dim_account "
            f"where cast(account_id as varchar) in ({', '.join('?' * len(accounts))})",
            accounts,
        ).fetchall()
    }
    if owner is not None and owners != {owner}:
        raise NotTheirsError("the CSV names accounts of another customer, or unknown accounts")
    if len(owners) != 1:
        return _unidentified("the accounts in this CSV do not belong to one known customer", "csv")
    customer_id = owners.pop()
    versions = issued_versions(con, customer_id, month)
    matching = [
        record
        for record in versions
        if render(load_issued_statement(con, customer_id, month, record.version), "csv") == data
    ]
    if not matching:
        described = f"the statement of customer {customer_id} for {month:%Y-%m}"
        if not versions:
            return _forged("csv", customer_id, month, None, versions, f"{described} was never issued")
        return _forged(
            "csv", customer_id, month, None, versions,
            f"the CSV matches no issued version of {described} (versions 1 to {versions[-1].version}): "
            "it was changed after it was issued",
        )  # fmt: skip
    # identical CSVs of two versions (only an opening balance without lines changed): the latest of them
    return _authentic("csv", matching[-1], versions)
