"""Rendering is pure: a `Statement` in, the bytes of its file out, so the same code serves the CLI,
the bulk export, the Dagster asset, the HTTP service and the dashboard download button.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from finefinance_platform.statements.model import Statement, StatementError

FORMATS = ("pdf", "csv")

CSV_COLUMNS = (
    "account_id",
    "month",
    "transaction_id",
    "date",
    "booking_date",
    "description",
    "category",
    "direction",
    "amount",
    "running_balance",
    "currency",
)


def render_csv(statement: Statement) -> bytes:
    """One row per statement line, every account of the customer, with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for account in statement.accounts:
        for line in account.lines:
            writer.writerow(
                (
                    account.account_id,
                    statement.month_label,
                    line.transaction_id,
                    line.transaction_date.date().isoformat(),
                    line.booked_at.date().isoformat(),
                    line.description,
                    line.category,
                    line.direction,
                    f"{line.amount:.2f}",
                    f"{line.running_balance:.2f}",
                    account.currency,
                )
            )
    return buffer.getvalue().encode("utf-8")


def render(statement: Statement, fmt: str, generated_on: dt.date | None = None) -> bytes:
    """The file of `statement`; an issued version always renders to the same bytes (dated when issued)."""
    if fmt == "pdf":
        from finefinance_platform.statements.pdf import render_pdf  # fpdf2 only when a PDF is asked for

        return render_pdf(statement, generated_on=generated_on)
    if fmt == "csv":
        return render_csv(statement)
    raise StatementError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
