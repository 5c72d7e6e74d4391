"""Statements: loading from the marts, the PDF's layout and numbers, the CSV, the refusals.

Expected numbers are worked out here from the hand-made transactions of `delivery_fixtures.small_bank`
(not read back from the fixture's marts), then the PDF text (pypdf) and the CSV are compared with
both those numbers and the marts rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from decimal import Decimal

import duckdb
import pypdf
import pytest
from helpers.delivery_fixtures import (
    LATE_AMOUNT,
    LATE_BOOKING,
    late_booking_booked,
    late_booking_made,
    make_delivery_home,
    month_end,
    uid,
)

from finefinance_platform.months import add_months, current_month
from finefinance_platform.statements.marts import load_month_statements, load_statement
from finefinance_platform.statements.model import (
    AccountStatement,
    MonthNotClosedError,
    NoStatementError,
    Statement,
    StatementIntegrityError,
    StatementLine,
    UnknownCustomerError,
    format_amount,
)
from finefinance_platform.statements.pdf import render_pdf
from finefinance_platform.statements.render import CSV_COLUMNS, render_csv

D = Decimal
GENERATED_ON = dt.date(2030, 1, 15)
ALICE_NET_PER_MONTH = D("3000.00") - D("45.99") - D("500.00") - D("120.50")  # 2,333.51
BRUNO_NET_PER_MONTH = D("1800.00") + D("120.50") + D("15.00") - D("230.40")  # 1,705.10


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return make_delivery_home(tmp_path_factory.mktemp("statement-home"), publish=False)


@pytest.fixture()
def con(home):
    with duckdb.connect(str(home.warehouse), read_only=True) as connection:
        yield connection


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def alice_expected_lines(month: dt.date, index: int) -> list[tuple[str, str, str, str, str]]:
    """(date, description, category, amount, running balance) of Alice's current account in month `index`
    (each booked when it is made: the booking date is the date)."""
    balance = ALICE_NET_PER_MONTH * index
    lines = []
    for day, description, category, signed in (
        (1, "Salary ACME SA", "Salary", D("3000.00")),
        (7, "Streaming subscription", "Subscription", D("-45.99")),
        (10, "Monthly savings", "Transfer", D("-500.00")),
        (12, "Dinner share", "Transfer", D("-120.50")),
    ):
        balance += signed
        lines.append((month.replace(day=day).isoformat(), description, category, abs(signed), balance))
    return lines


def test_alice_pdf_has_what_a_bank_sends(home, con):
    index, month = 3, home.months[3]
    statement = load_statement(con, uid("alice"), month)
    text = pdf_text(render_pdf(statement, generated_on=GENERATED_ON))

    assert "FineFinance" in text and "Account statement" in text
    assert "Customer: Alice Durand" in text
    assert f"Customer ID: {uid('alice')}" in text
    assert f"Period: 1 {month:%B %Y} to {month_end(month).day} {month:%B %Y}" in text
    assert "Generated on: 2030-01-15" in text

    # current account first, then the Livret A; opening and closing from the hand-made amounts
    opening, closing = ALICE_NET_PER_MONTH * index, ALICE_NET_PER_MONTH * (index + 1)
    assert text.index("Current account - EUR") < text.index("Livret A savings account - EUR")
    assert f"Opening balance on {month.isoformat()}: {format_amount(opening)} EUR" in text
    assert f"Closing balance on {month_end(month).isoformat()}: {format_amount(closing)} EUR" in text
    assert f"Opening balance on {month.isoformat()}: {format_amount(D(500) * index)} EUR" in text
    assert f"Closing balance on {month_end(month).isoformat()}: {format_amount(D(500) * (index + 1))} EUR" in text
    assert "Totals 4 transactions 3,000.00 666.49" in text
    assert "Totals 1 transaction 500.00 0.00" in text

    pdf_lines = text.splitlines()
    for date, description, category, amount, balance in alice_expected_lines(month, index):
        assert f"{date} {date} {description} {category} {format_amount(amount)} {format_amount(balance)}" in pdf_lines
    assert f"FineFinance - statement {month:%Y-%m} - Alice Durand - page 1/1" in text


def test_pdf_lists_every_marts_line_of_the_customer(home, con):
    month = home.months[2]
    rows = con.execute(
        """
        select l.transaction_date::date, l.booked_at::date, l.description, l.amount, l.running_balance
        from marts.fct_statement_line l join marts.dim_account a using (account_id)
        where a.customer_id = ? and l.month_start = ?
        """,
        [uid("bruno"), month],
    ).fetchall()
    assert len(rows) == 4
    text = pdf_text(render_pdf(load_statement(con, uid("bruno"), month), generated_on=GENERATED_ON))
    for date, booked, description, amount, running in rows:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(f"{date.isoformat()} {booked.isoformat()} {description}")
        )
        assert line.endswith(f"{format_amount(amount)} {format_amount(running)}")


def test_month_boundaries_and_only_completed_transactions(home, con):
    month = home.months[1]
    statement = load_statement(con, uid("bruno"), month)
    (account,) = statement.accounts
    descriptions = [line.description for line in account.lines]
    # the card payment at 23:30 UTC on the month's last day belongs to this month
    assert descriptions == ["Salary Petit & Co", "Dinner share", "Refund", "Grocery store"]
    assert account.lines[-1].transaction_date == dt.datetime.combine(month_end(month), dt.time(23, 30))
    assert "Pending purchase" not in descriptions and "Failed purchase" not in descriptions
    assert account.opening_balance == BRUNO_NET_PER_MONTH
    assert account.closing_balance == BRUNO_NET_PER_MONTH * 2


def test_a_transaction_is_on_the_statement_of_its_booking_month_with_both_dates(home, con):
    """Made on the 30th of the third month, booked on the 2nd of the fourth: on the fourth only."""
    made, booked = late_booking_made(home.months), late_booking_booked(home.months)
    assert (made.date().replace(day=1), booked.date()) == (home.months[2], home.months[3].replace(day=2))
    assert made.day >= 28  # the 30th, or February's last day
    third = load_statement(con, uid("bruno"), home.months[2])
    assert uid(LATE_BOOKING) not in {line.transaction_id for line in third.accounts[0].lines}
    assert third.accounts[0].closing_balance == BRUNO_NET_PER_MONTH * 3

    fourth = load_statement(con, uid("bruno"), home.months[3])
    (account,) = fourth.accounts
    # booking order: the salary of the 1st, then the late payment booked on the 2nd, then the month
    opening = BRUNO_NET_PER_MONTH * 3
    expected = [
        ("Salary Petit & Co", opening + D("1800.00")),
        ("Concert tickets", opening + D("1800.00") - LATE_AMOUNT),
        ("Dinner share", opening + D("1800.00") - LATE_AMOUNT + D("120.50")),
        ("Refund", opening + D("1800.00") - LATE_AMOUNT + D("120.50") + D("15.00")),
        ("Grocery store", BRUNO_NET_PER_MONTH * 4 - LATE_AMOUNT),
    ]
    assert [(line.description, line.running_balance) for line in account.lines] == expected
    assert account.closing_balance == BRUNO_NET_PER_MONTH * 4 - LATE_AMOUNT == D("6755.50")
    late = account.lines[1]
    assert late.transaction_id == uid(LATE_BOOKING)
    assert (late.transaction_date, late.booked_at) == (made.replace(tzinfo=None), booked.replace(tzinfo=None))

    text = pdf_text(render_pdf(fourth, generated_on=GENERATED_ON))
    assert (
        f"{made.date().isoformat()} {booked.date().isoformat()} Concert tickets Card payment 64.90 "
        f"{format_amount(expected[1][1])}"
    ) in text.splitlines()
    rows = list(csv.DictReader(io.StringIO(render_csv(fourth).decode("utf-8"))))
    assert [(r["date"], r["booking_date"], r["amount"]) for r in rows if r["description"] == "Concert tickets"] == [
        (made.date().isoformat(), booked.date().isoformat(), "64.90")
    ]


def test_account_without_transactions_still_has_its_section(home, con):
    statement = load_statement(con, uid("chloe"), home.months[0])
    assert [account.account_type for account in statement.accounts] == ["normal", "LJ"]
    text = pdf_text(render_pdf(statement, generated_on=GENERATED_ON))
    assert "Livret Jeune savings account - EUR" in text
    assert "No completed transactions this month." in text
    assert "Customer: Chloé Moreau" in text  # Latin-1 names print as they are


def test_csv_has_one_row_per_statement_line(home, con):
    index, month = 3, home.months[3]
    statement = load_statement(con, uid("alice"), month)
    reader = csv.DictReader(io.StringIO(render_csv(statement).decode("utf-8")))
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    rows = list(reader)

    marts_rows = con.execute(
        """
        select l.account_id, l.transaction_id, l.direction, l.amount, l.running_balance
        from marts.fct_statement_line l join marts.dim_account a using (account_id)
        where a.customer_id = ? and l.month_start = ?
        """,
        [uid("alice"), month],
    ).fetchall()
    assert sorted((r["account_id"], r["transaction_id"], r["direction"], D(r["amount"]), D(r["running_balance"]))
                  for r in rows) == sorted(marts_rows)  # fmt: skip
    assert {r["month"] for r in rows} == {f"{month:%Y-%m}"}
    assert {r["currency"] for r in rows} == {"EUR"}

    current = [r for r in rows if r["account_id"] == uid("alice-cur")]
    expected = alice_expected_lines(month, index)
    assert [(r["date"], r["booking_date"], r["description"], D(r["amount"]), D(r["running_balance"]))
            for r in current] == [
        (date, date, description, amount, balance) for date, description, _, amount, balance in expected
    ]  # fmt: skip
    net = sum(D(r["amount"]) * (1 if r["direction"] == "credit" else -1) for r in current)
    assert net == ALICE_NET_PER_MONTH


def test_month_statements_cover_every_customer_with_a_statement(home, con):
    statements = load_month_statements(con, home.months[2])
    assert sorted(s.customer_id for s in statements) == sorted(
        uid(key) for key in ("alice", "bruno", "chloe", "didier", "emma")
    )
    one_by_one = [load_statement(con, s.customer_id, s.month) for s in statements]
    assert one_by_one == statements


def test_refusals_name_the_problem(home, con):
    with pytest.raises(UnknownCustomerError, match="unknown customer 'nobody'"):
        load_statement(con, "nobody", home.months[0])
    # Emma signs up in the third month: nothing for the first
    with pytest.raises(NoStatementError, match=f"no statement for customer {uid('emma')} in {home.months[0]:%Y-%m}"):
        load_statement(con, uid("emma"), home.months[0])
    with pytest.raises(MonthNotClosedError, match="not closed yet"):
        load_statement(con, uid("alice"), current_month())
    with pytest.raises(MonthNotClosedError):
        load_statement(con, uid("alice"), add_months(current_month(), 5))
    # an SQL-looking id is just an unknown id (parameters, never string building)
    with pytest.raises(UnknownCustomerError):
        load_statement(con, "' or 1=1 --", home.months[0])


def test_a_statement_that_does_not_add_up_is_refused(home, tmp_path):
    broken = tmp_path / "broken.duckdb"
    shutil.copy(home.warehouse, broken)
    month = home.months[1]
    with duckdb.connect(str(broken)) as con:
        con.execute(
            "update marts.fct_monthly_statement set closing_balance = closing_balance + 1 "
            "where account_id = ? and month_start = ?",
            [uid("bruno-cur"), month],
        )
    with duckdb.connect(str(broken), read_only=True) as con:
        with pytest.raises(StatementIntegrityError, match=f"account {uid('bruno-cur')} in {month:%Y-%m}"):
            load_statement(con, uid("bruno"), month)


def test_long_statements_run_over_pages_with_every_line():
    month = dt.date(2024, 5, 1)
    balance, lines = D("0.00"), []
    for n in range(130):
        amount = D(f"{n + 1}.25")
        balance += amount
        made = dt.datetime(2024, 5, 1 + n % 28, 12)
        lines.append(
            StatementLine(f"t{n}", made, made, f"Payment number {n} " + "x" * 80, "deposit", "credit", amount, balance)
        )
    account = AccountStatement("acc-1", "normal", "EUR", D("0.00"), balance, D("0.00"), balance, 130, tuple(lines))
    statement = Statement("cust-1", "Zoë", "Ünal ☃", month, (account,))
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(statement, generated_on=GENERATED_ON)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 3
    for page in reader.pages[1:]:
        assert "Date Booked Description Category Credit Debit Balance" in page.extract_text()  # headings repeated
    assert f"page {len(reader.pages)}/{len(reader.pages)}" in text
    for line in lines:
        assert format_amount(line.running_balance) in text
    assert "Payment number 129" in text and "..." in text  # long descriptions are shortened, not overflowing
    assert "Customer: Zoë Ünal ?" in text  # outside Latin-1 prints as '?', never a crash
