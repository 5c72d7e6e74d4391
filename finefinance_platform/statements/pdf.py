"""The PDF a bank sends: one page header, a summary, one section per account, page numbers.

fpdf2's core fonts need no font files (CI and a new machine render the same PDF) but only cover
Latin-1: characters outside it (rare in names and descriptions) print as '?'.

An issued version (`Statement.issue`) says on its face which version it is, and is dated with its
issue date, not today: rendering it again gives the same bytes, which is how `statement verify`
recognises an authentic file. Its identity (customer, month, version) is also in the PDF's
metadata (`Keywords`), so a file can be matched to its version without reading its text.
"""

from __future__ import annotations

import datetime as dt
import re

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from finefinance_platform.statements.model import (
    Statement,
    format_amount,
    format_eur,
)

BANK_NAME = "FineFinance"
FONT = "Helvetica"
# column widths in mm of the transaction table (A4 portrait, 15 mm margins: 180 mm)
# "Date" is when the customer made the transaction, "Booked" when the bank booked it (its month)
COLUMNS = (
    ("Date", 18),
    ("Booked", 18),
    ("Description", 50),
    ("Category", 22),
    ("Credit", 24),
    ("Debit", 24),
    ("Balance", 24),
)
AMOUNTS_FROM = 4  # the index of the first amount column (right-aligned)
DESCRIPTION = 2  # the only free-text column: shortened when too long
SUMMARY_COLUMNS = (("Account", 60), ("Opening", 30), ("Credits", 30), ("Debits", 30), ("Closing", 30))
ROW_HEIGHT = 5.5
CELL_PADDING = 1.0
# the identity of an issued version in the PDF's Keywords: ids are uuids (or plain text without ;).
# The customer id is bounded (a file from the internet names whatever it likes, and errors quote it);
# the version is any digits, so that a file naming an impossible one is recognised and refused.
IDENTITY_PREFIX = "finefinance-statement:"
IDENTITY_PATTERN = re.compile(rb"finefinance-statement:customer=([^;()\\\s]{1,200});month=(\d{4}-\d{2});version=(\d+)")


def identity_keywords(customer_id: str, month_label: str, version: int) -> str:
    return f"{IDENTITY_PREFIX}customer={customer_id};month={month_label};version={version}"


def latin1(text: str) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def category_label(category: str) -> str:
    return category.replace("_", " ").capitalize()


def period_label(statement: Statement) -> str:
    start, end = statement.month, statement.period_end
    return f"{start.day} {start:%B %Y} to {end.day} {end:%B %Y}"


def replaced_on(statement: Statement) -> str:
    """The issue date of the version a correction replaces."""
    issued_at = statement.issue.replaces_issued_at if statement.issue else None
    return issued_at.date().isoformat() if issued_at else "an earlier date"


def version_label(statement: Statement) -> str | None:
    """'2', or '2 - corrects the statement issued on 2026-11-01'; None for a statement not issued."""
    issue = statement.issue
    if issue is None:
        return None
    if issue.is_correction:
        return f"{issue.version} - corrects the statement issued on {replaced_on(statement)}"
    return str(issue.version)


class _StatementPDF(FPDF):
    def __init__(self, statement: Statement, generated_on: dt.date):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.statement = statement
        self.generated_on = generated_on
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(f"{BANK_NAME} statement {statement.month_label} - {latin1(statement.customer_name)}")
        self.set_author(BANK_NAME)
        self.set_creation_date(dt.datetime.combine(generated_on, dt.time(), tzinfo=dt.UTC))
        if statement.issue is not None:
            self.set_subject(
                f"Statement {statement.month_label} of customer {statement.customer_id}, "
                f"version {statement.issue.version}"
            )
            self.set_keywords(identity_keywords(statement.customer_id, statement.month_label, statement.issue.version))

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=7)
        self.set_text_color(110)
        version = f" - version {self.statement.issue.version}" if self.statement.issue else ""
        self.cell(
            0,
            4,
            latin1(
                f"{BANK_NAME} - statement {self.statement.month_label}{version} - "
                f"{self.statement.customer_name} - page {self.page_no()}/{{nb}}"
            ),
            align="C",
        )
        self.set_text_color(0)


def _row(pdf: FPDF, cells, widths, *, bold=False, fill=False, amounts_from: int = 99, fit: int = 1) -> None:
    """One table row; only column `fit` (free text) can be too long, the others are dates and amounts.

    Text is placed with `FPDF.text` and the rule under the row is one line: a statement is mostly
    rows, and `FPDF.cell` (text shaping, per-cell state) would be most of the rendering time.
    """
    if pdf.will_page_break(ROW_HEIGHT):
        pdf.add_page()
    pdf.set_font(FONT, style="B" if bold else "", size=8)
    left, top = pdf.l_margin, pdf.get_y()
    total = sum(widths)
    if fill:
        pdf.rect(left, top, total, ROW_HEIGHT, style="F")
    baseline = top + ROW_HEIGHT * 0.68
    x = left
    for index, (text, width) in enumerate(zip(cells, widths, strict=True)):
        if text:
            text = latin1(text)
            if index == fit:
                text = _fit(pdf, text, width - 2 * CELL_PADDING)
            if index >= amounts_from:
                pdf.text(x + width - CELL_PADDING - pdf.get_string_width(text), baseline, text)
            else:
                pdf.text(x + CELL_PADDING, baseline, text)
        x += width
    pdf.line(left, top + ROW_HEIGHT, left + total, top + ROW_HEIGHT)
    pdf.set_xy(left, top + ROW_HEIGHT)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Shorten text that would overflow its column (a description, rarely)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text + "..."


def render_pdf(statement: Statement, generated_on: dt.date | None = None) -> bytes:
    """The PDF of `statement`; an issued version is dated with its issue date (`generated_on` ignored)."""
    if statement.issue is not None:
        generated_on = statement.issue.issued_at.date()
    generated_on = generated_on or dt.datetime.now(dt.UTC).date()
    pdf = _StatementPDF(statement, generated_on)
    pdf.add_page()

    # -- header: who, which period, when -----------------------------------------------------------
    pdf.set_font(FONT, style="B", size=16)
    pdf.cell(90, 8, BANK_NAME)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, "Account statement", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT, size=9)
    header = [
        ("Customer", statement.customer_name),
        ("Customer ID", statement.customer_id),
        ("Period", period_label(statement)),
    ]
    if statement.issue is None:
        header.append(("Generated on", generated_on.isoformat()))
    else:
        header += [("Issued on", generated_on.isoformat()), ("Version", version_label(statement))]
    for label, value in header:
        pdf.set_font(FONT, style="B", size=9)
        pdf.cell(28, 5, f"{label}:")
        pdf.set_font(FONT, size=9)
        pdf.cell(0, 5, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if statement.issue is not None and statement.issue.is_correction:
        pdf.ln(1)
        pdf.set_font(FONT, style="B", size=9)
        pdf.multi_cell(
            0,
            5,
            f"Corrected statement: this version {statement.issue.version} replaces the statement issued on "
            f"{replaced_on(statement)}, which should no longer be used.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(4)

    # -- summary of all accounts -------------------------------------------------------------------
    pdf.set_font(FONT, style="B", size=11)
    pdf.cell(0, 7, "Summary (EUR)", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    widths = [w for _, w in SUMMARY_COLUMNS]
    pdf.set_fill_color(235, 238, 243)
    _row(pdf, [name for name, _ in SUMMARY_COLUMNS], widths, bold=True, fill=True, amounts_from=1, fit=0)
    for account in statement.accounts:
        _row(
            pdf,
            [
                f"{account.label} ...{account.account_id[-6:]}",
                format_amount(account.opening_balance),
                format_amount(account.total_credits),
                format_amount(account.total_debits),
                format_amount(account.closing_balance),
            ],
            widths,
            amounts_from=1,
            fit=0,
        )
    pdf.ln(5)

    # -- one section per account -------------------------------------------------------------------
    widths = [w for _, w in COLUMNS]
    for account in statement.accounts:
        if pdf.will_page_break(40):
            pdf.add_page()
        pdf.set_font(FONT, style="B", size=11)
        pdf.cell(0, 7, latin1(f"{account.label} - {account.currency}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=8)
        pdf.cell(0, 4.5, f"Account ID: {account.account_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=9)
        pdf.cell(
            0,
            6,
            f"Opening balance on {statement.month.isoformat()}: "
            f"{format_eur(account.opening_balance, account.currency)}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        _row(pdf, [name for name, _ in COLUMNS], widths, bold=True, fill=True, amounts_from=AMOUNTS_FROM)
        if not account.lines:
            pdf.set_font(FONT, style="I", size=8)
            pdf.cell(0, ROW_HEIGHT, "No completed transactions this month.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for line in account.lines:
            if pdf.will_page_break(ROW_HEIGHT):
                # a long account goes on over pages: each one starts with the column names again
                pdf.add_page()
                _row(pdf, [name for name, _ in COLUMNS], widths, bold=True, fill=True, amounts_from=AMOUNTS_FROM)
            _row(
                pdf,
                [
                    line.transaction_date.date().isoformat(),
                    line.booked_at.date().isoformat(),
                    line.description,
                    category_label(line.category),
                    format_amount(line.credit),
                    format_amount(line.debit),
                    format_amount(line.running_balance),
                ],
                widths,
                amounts_from=AMOUNTS_FROM,
                fit=DESCRIPTION,
            )
        _row(
            pdf,
            [
                "Totals",
                "",
                f"{account.transaction_count} transaction{'' if account.transaction_count == 1 else 's'}",
                "",
                format_amount(account.total_credits),
                format_amount(account.total_debits),
                "",
            ],
            widths,
            bold=True,
            amounts_from=AMOUNTS_FROM,
            fit=DESCRIPTION,
        )
        pdf.set_font(FONT, style="B", size=9)
        pdf.cell(
            0,
            7,
            f"Closing balance on {statement.period_end.isoformat()}: "
            f"{format_eur(account.closing_balance, account.currency)}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(4)

    return bytes(pdf.output())
