"""Is this downloaded statement an authentic issued version? (`finefinance statement verify FILE`)

An issued version renders to the same bytes every time (its content and issue date are stored), so
a file is authentic when it is byte for byte the rendering of the version it claims to be:
- a PDF names its version in its metadata (customer, month, version: see pdf.py); that version is
  rendered again and compared;
- a CSV names its month and accounts on every line; the accounts give the customer, and the file
  is compared with the CSV of each issued version of that customer's month.
A CSV without lines names no account: it cannot be identified, and the answer says so.

The statement service hands this module files from the internet, so every step is bounded
(`NotAStatementError`, a 400, for a file past a bound): the body itself (the service's limit), a PDF's
objects and the inflated size of its compressed streams, each and in total, checked before pypdf reads
it (with pypdf's own limits lowered too), and a CSV's distinct accounts (a statement names a customer's
few accounts) before any SQL. A PDF identity naming a month or version that cannot be one is not a
statement either. For a signed-in customer, a file naming anyone else's statement, or any account that
is not theirs (unknown or another customer's alike), is `NotTheirsError` (the service's 404): the
answer never says whether an account or customer exists.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zlib
from dataclasses import dataclass

from finefinance_platform.errors import FineFinanceError
from finefinance_platform.months import parse_month
from finefinance_platform.statements.issuing.issued import IssueRecord, issued_versions, load_issued_statement
from finefinance_platform.statements.model import StatementError
from finefinance_platform.statements.pdf import IDENTITY_PATTERN
from finefinance_platform.statements.render import CSV_COLUMNS, render

# a statement renders to a few KB per page (a 3,000-transaction month: 167 KB of PDF, ~2 MB of page
# streams once inflated); these bounds are far above any statement and far below a decompression bomb
MAX_PDF_OBJECTS = 20_000
MAX_STREAM_INFLATED_BYTES = 16_000_000
MAX_TOTAL_INFLATED_BYTES = 32_000_000
INFLATE_CHUNK_BYTES = 1_000_000  # inflated a chunk at a time and counted, never kept
# filters that may expand without bound and that fpdf2 (or an editor re-saving a statement) never uses
UNEXPECTED_FILTERS = (b"/LZWDecode", b"/RunLengthDecode", b"/JBIG2Decode", b"/BrotliDecode", b"/Crypt")
MAX_CSV_ACCOUNTS = 20  # a statement names one customer's accounts: a handful
MAX_VERSION_DIGITS = 6  # as the service's ?version=N
OBJECT_PATTERN = re.compile(rb"\d+\s+\d+\s+obj\b")
STREAM_PATTERN = re.compile(rb"stream\s*")  # `endstream` too: what follows it is simply not zlib
CHAINED_FILTERS_PATTERN = re.compile(rb"/Filter\s*\[\s*/\w+\s*/")  # [/FlateDecode /FlateDecode]: a bomb in a bomb


class NotTheirsError(StatementError):
    """The file names a statement of someone else than the customer asking (the service says 404)."""


class NotAStatementError(StatementError):
    """The file cannot be a statement: past a bound, or naming an impossible identity (the service says 400)."""


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
    check_bounds(data)
    if data.startswith(b"%PDF"):
        return _verify_pdf(con, data, customer_id)
    return _verify_csv(con, data, customer_id)


def check_bounds(data: bytes) -> None:
    """Refuse (NotAStatementError) a file past the bounds of any statement, with no database: the
    statement service calls it before it opens the marts, `verify_document` again (the CLI)."""
    if data.startswith(b"%PDF"):
        check_pdf_bounds(data)
        return
    try:
        rows = csv.reader(io.StringIO(data.decode("utf-8")))
        if tuple(next(rows, ())) != CSV_COLUMNS:
            return  # not a statement's CSV: answered as such, without SQL
        position, accounts = CSV_COLUMNS.index("account_id"), set()
        for line in rows:
            accounts.add(line[position] if len(line) > position else "")
            if len(accounts) > MAX_CSV_ACCOUNTS:
                raise NotAStatementError(f"the CSV names more accounts than a statement ({MAX_CSV_ACCOUNTS} at most)")
    except (UnicodeDecodeError, csv.Error):
        return  # answered by _verify_csv: not a UTF-8 CSV


def pdf_identity(data: bytes, owner: str | None = None) -> tuple[str, dt.date, int] | None:
    """(customer id, month, version) from the PDF's metadata, or None.

    With `owner`, an identity naming another customer raises NotTheirsError before its month and
    version are read; an impossible month or version raises NotAStatementError.
    """
    found = IDENTITY_PATTERN.search(data)
    if found is None:
        keywords = _keywords_with_pypdf(data)  # an editor may have compressed the metadata
        found = IDENTITY_PATTERN.search(keywords.encode("latin-1", "replace")) if keywords else None
    if found is None:
        return None
    customer_id, month_text, version_text = (group.decode("ascii") for group in found.groups())
    if owner is not None and customer_id != owner:
        raise NotTheirsError("the PDF names a statement of another customer")
    try:
        month = parse_month(month_text)
    except FineFinanceError as exc:
        raise NotAStatementError("the PDF's identity names no month") from exc
    if len(version_text) > MAX_VERSION_DIGITS or int(version_text) < 1:
        raise NotAStatementError("the PDF's identity names no version")
    return customer_id, month, int(version_text)


def check_pdf_bounds(data: bytes) -> None:
    """Refuse (NotAStatementError) a PDF past the bounds of any statement, before a parser reads it:
    too many objects, a filter that may expand without bound, a compressed stream that inflates past
    MAX_STREAM_INFLATED_BYTES (or all of them past MAX_TOTAL_INFLATED_BYTES), or one that is not zlib."""
    if len(OBJECT_PATTERN.findall(data)) > MAX_PDF_OBJECTS:
        raise NotAStatementError("the PDF has more objects than any statement")
    if any(name in data for name in UNEXPECTED_FILTERS) or CHAINED_FILTERS_PATTERN.search(data):
        raise NotAStatementError("the PDF uses a compression no statement uses")
    starts = [found.end() for found in STREAM_PATTERN.finditer(data)]
    if len(starts) > 2 * MAX_PDF_OBJECTS:  # `stream` and `endstream` of each object at most
        raise NotAStatementError("the PDF has more streams than any statement")
    view, total = memoryview(data), 0
    for start in starts:
        # every stream is tried, whatever its dictionary says: data that is not zlib fails at its first bytes
        inflater, pending, size = zlib.decompressobj(), view[start:], 0
        try:
            while not inflater.eof:
                chunk = inflater.decompress(pending, INFLATE_CHUNK_BYTES)  # counted, then dropped
                pending = inflater.unconsumed_tail
                size += len(chunk)
                if size > MAX_STREAM_INFLATED_BYTES or total + size > MAX_TOTAL_INFLATED_BYTES:
                    raise NotAStatementError("the PDF's compressed streams inflate past any statement")
                if not chunk and not pending:
                    break  # the file ends before the stream does
        except zlib.error:
            pass  # not zlib (or broken): pypdf will not inflate it either, and what did inflate still counts
        total += size


def _keywords_with_pypdf(data: bytes) -> str | None:
    try:
        import pypdf  # a development dependency: without it, metadata must be readable as written
    except ImportError:
        return None
    check_pdf_bounds(data)  # again: pdf_identity may be called on its own
    # pypdf's own limits, lowered for this call (its defaults allow 75 MB per stream); the context-local
    # configuration does not change other readers in this process
    limits = {
        "maximum_declared_stream_length": MAX_STREAM_INFLATED_BYTES,
        "array_based_stream_maximum_output_length": MAX_STREAM_INFLATED_BYTES,
        "zlib_maximum_output_length": MAX_STREAM_INFLATED_BYTES,
        "zlib_maximum_recovery_input_length": 0,  # no byte-by-byte recovery of a broken stream (CPU)
        "lzw_maximum_output_length": MAX_STREAM_INFLATED_BYTES,
        "run_length_maximum_output_length": MAX_STREAM_INFLATED_BYTES,
        "stream_decoding_work_maximum_length": MAX_TOTAL_INFLATED_BYTES,
    }
    try:
        with pypdf.apply_configuration(**limits):
            reader = pypdf.PdfReader(io.BytesIO(data), root_object_recovery_limit=MAX_PDF_OBJECTS,
                                     xref_stream_maximum_entries=MAX_PDF_OBJECTS)  # fmt: skip
            metadata = reader.metadata
            return str(metadata.get("/Keywords", ""))[:1000] if metadata else None
    except Exception:  # noqa: BLE001 (a damaged PDF is simply not identified)
        return None


def _verify_pdf(con, data: bytes, owner: str | None) -> Verification:
    identity = pdf_identity(data, owner)
    if identity is None:
        return _unidentified("this PDF names no issued statement (no FineFinance statement identity in it)", "pdf")
    customer_id, month, version = identity
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
    if len(accounts) > MAX_CSV_ACCOUNTS:
        raise NotAStatementError(f"the CSV names more accounts than a statement ({MAX_CSV_ACCOUNTS} at most)")
    if len(months) != 1:
        return _unidentified(f"this CSV mixes months ({', '.join(sorted(months)[:3])[:100]})", "csv")
    try:
        month = parse_month(months.pop())
    except FineFinanceError:
        return _unidentified("the month column of this CSV is not a month", "csv")
    owner_of = dict(
        con.execute(
            # one placeholder per account: list parameters are DuckDB's, not Snowflake's
            "select distinct cast(account_id as varchar), cast(customer_id as varchar) from marts.dim_account "
            f"where cast(account_id as varchar) in ({', '.join('?' * len(accounts))})",
            accounts,
        ).fetchall()
    )
    owners = set(owner_of.values())
    # every account must be the caller's: an unknown account and another customer's get the same answer
    if owner is not None and any(owner_of.get(account) != owner for account in accounts):
        raise NotTheirsError("the CSV names an account that is not the customer's")
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
