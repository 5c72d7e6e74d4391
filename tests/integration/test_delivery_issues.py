"""Issued statements are records (delivery.statement_issues): versions, corrections, verification.

One history of the small bank, on a real DuckDB warehouse, built once for the module:
1. the first three months close while Bruno's late card payment is still pending: version 1 of each;
2. the payment is booked on the 2nd of the fourth month and the marts are rebuilt: no issued month
   changes, the fourth month closes with version 1 of each;
3. a correction at the source: Alice's subscription of the third month was 49.99, not 45.99: the
   third month gets her version 2, and the fourth too (its opening balance follows);
4. issuing again issues nothing.
Expected money is worked out here from the hand-made amounts, not read back from the marts.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import shutil
from decimal import Decimal
from types import SimpleNamespace

import duckdb
import pypdf
import pytest
from helpers.delivery_fixtures import (
    LATE_AMOUNT,
    LATE_BOOKING,
    correct_booking,
    issue_months,
    issue_time,
    late_booking_booked,
    late_booking_made,
    make_delivery_home,
    small_bank,
    uid,
    write_marts,
)

from finefinance_platform.statements.issuing.check import issue_problems
from finefinance_platform.statements.issuing.content import canonical_content
from finefinance_platform.statements.issuing.issue import issue_month
from finefinance_platform.statements.issuing.issued import issued_versions, load_issued_statement
from finefinance_platform.statements.marts import load_statement
from finefinance_platform.statements.model import NoStatementError
from finefinance_platform.statements.render import render
from finefinance_platform.statements.verify import NotTheirsError, verify_document

D = Decimal
ALICE_NET_PER_MONTH = D("3000.00") - D("45.99") - D("500.00") - D("120.50")  # 2,333.51
BRUNO_NET_PER_MONTH = D("1800.00") + D("120.50") + D("15.00") - D("230.40")  # 1,705.10
CORRECTION = D("4.00")  # Alice's subscription of the third month: 49.99, not 45.99


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    bank = small_bank()
    months = bank.months
    (late,) = [t for t in bank.transactions if t["transaction_id"] == uid(LATE_BOOKING)]
    late.update(status="pending", booked_at=None)  # as the third month closes
    home = make_delivery_home(tmp_path_factory.mktemp("issues-home"), bank, publish=False, issue=False)
    first_close = issue_months(home, months[:3])
    issued_before = rows(home)

    late.update(status="completed", booked_at=late_booking_booked(months))  # booked on the 2nd of the fourth
    write_marts(home.warehouse, bank)
    fourth_close = issue_months(home)

    corrected_at = issue_time(months[3]) + dt.timedelta(days=1, hours=7)
    correction = correct_booking(home, "alice-sub-2", "49.99", now=corrected_at)
    after_correction = rows(home)
    again = issue_months(home, now=corrected_at + dt.timedelta(hours=1))
    return SimpleNamespace(
        home=home, months=months, first_close=first_close, issued_before=issued_before,
        fourth_close=fourth_close, corrected_at=corrected_at, correction=correction,
        after_correction=after_correction, again=again,
    )  # fmt: skip


def rows(home) -> dict[tuple, dict]:
    """Every row of delivery.statement_issues, by (customer, month, version)."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute("select * from delivery.statement_issues")
        names = [column[0] for column in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(row["customer_id"], row["month_start"], row["version"]): row for row in found}


@pytest.fixture()
def con(history):
    with duckdb.connect(str(history.home.warehouse), read_only=True) as connection:
        yield connection


def counts(issued) -> list[tuple[int, int, int]]:
    return [(c.first_issues, c.corrections, c.unchanged) for c in issued]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_first_close_issues_version_1_of_every_statement(history):
    assert counts(history.first_close) == [(4, 0, 0), (4, 0, 0), (5, 0, 0)]  # Emma from the third month
    third = history.months[2]
    row = history.issued_before[(uid("bruno"), third, 1)]
    assert (row["reason"], row["replaces_version"], row["issued_at"]) == (None, None, issue_time(third))
    assert row["content_sha256"] == hashlib.sha256(row["content"].encode()).hexdigest()
    content = json.loads(row["content"])
    (account,) = content["accounts"]
    assert account["closing_balance"] == str(BRUNO_NET_PER_MONTH * 3) == "5115.30"
    assert row["closing_after"] == BRUNO_NET_PER_MONTH * 3
    # the pending payment is on no statement
    assert uid(LATE_BOOKING) not in {line["transaction_id"] for line in account["lines"]}


def test_a_late_booking_changes_no_issued_statement(history):
    assert counts(history.fourth_close) == [(0, 0, 4), (0, 0, 4), (0, 0, 5), (5, 0, 0)]
    months = history.months
    for key, before in history.issued_before.items():
        after = history.after_correction[key]
        assert (after["content"], after["content_sha256"]) == (before["content"], before["content_sha256"]), key
    assert not [key for key in history.after_correction if key[1] in months[:2] and key[2] > 1]

    fourth = history.after_correction[(uid("bruno"), months[3], 1)]
    (account,) = json.loads(fourth["content"])["accounts"]
    (late,) = [line for line in account["lines"] if line["transaction_id"] == uid(LATE_BOOKING)]
    made, booked = late_booking_made(months), late_booking_booked(months)
    assert (late["transaction_date"], late["booked_at"]) == (
        made.strftime("%Y-%m-%dT%H:%M:%SZ"),
        booked.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert account["closing_balance"] == str(BRUNO_NET_PER_MONTH * 4 - LATE_AMOUNT)


def test_a_correction_issues_new_versions_with_the_reason(history):
    months = history.months
    assert counts(history.correction) == [(0, 0, 4), (0, 0, 4), (0, 1, 4), (0, 1, 4)]
    third = history.after_correction[(uid("alice"), months[2], 2)]
    ending = f"...{uid('alice-cur')[-6:]}"
    closing_before, closing_after = ALICE_NET_PER_MONTH * 3, ALICE_NET_PER_MONTH * 3 - CORRECTION
    assert (third["replaces_version"], third["issued_at"]) == (1, history.corrected_at)
    assert (third["lines_added"], third["lines_removed"], third["lines_changed"]) == (0, 0, 1)
    assert (third["closing_before"], third["closing_after"]) == (closing_before + 1500, closing_after + 1500)
    assert third["reason"] == (
        "correction after a rebuild of the marts: 0 line(s) added, 0 removed, 1 changed; closing balance of "
        f"Current account {ending} 7,000.53 EUR -> 6,996.53 EUR"
    )
    # the fourth month's lines did not change, its opening balance did
    fourth = history.after_correction[(uid("alice"), months[3], 2)]
    assert (fourth["lines_added"], fourth["lines_removed"], fourth["lines_changed"]) == (0, 0, 0)
    assert (fourth["closing_before"], fourth["closing_after"]) == (
        ALICE_NET_PER_MONTH * 4 + 2000,
        ALICE_NET_PER_MONTH * 4 - CORRECTION + 2000,
    )
    assert f"opening balance of Current account {ending} 7,000.53 EUR -> 6,996.53 EUR" in fourth["reason"]
    # nobody else, and no other month
    assert sorted((c, m, v) for c, m, v in history.after_correction if v > 1) == [
        (uid("alice"), months[2], 2),
        (uid("alice"), months[3], 2),
    ]


def test_a_second_issue_run_issues_nothing(history):
    assert all(c.issued == 0 for c in history.again)
    assert rows(history.home) == history.after_correction


def test_every_version_stays_downloadable(history, con):
    third = history.months[2]
    first, second = (load_issued_statement(con, uid("alice"), third, version) for version in (1, 2))
    assert load_issued_statement(con, uid("alice"), third) == second  # the latest by default
    # version 1 is what was issued, though the marts have changed since
    assert canonical_content(first) == history.issued_before[(uid("alice"), third, 1)]["content"]
    assert [line.amount for line in first.accounts[0].lines][1] == D("45.99")
    assert [line.amount for line in second.accounts[0].lines][1] == D("49.99")
    assert second.accounts[0].closing_balance == load_statement(con, uid("alice"), third).accounts[0].closing_balance

    first_pdf, second_pdf = pdf_text(render(first, "pdf")), pdf_text(render(second, "pdf"))
    issued_on, corrected_on = issue_time(third).date().isoformat(), history.corrected_at.date().isoformat()
    assert f"Issued on: {issued_on}" in first_pdf and "Version: 1" in first_pdf
    assert "Corrected" not in first_pdf
    assert f"Issued on: {corrected_on}" in second_pdf
    assert f"Version: 2 - corrects the statement issued on {issued_on}" in second_pdf
    assert f"Corrected statement: this version 2 replaces the statement issued on {issued_on}" in second_pdf
    assert "6,996.53 EUR" in second_pdf and "7,000.53 EUR" in first_pdf
    # rendering a version again gives the same bytes
    assert render(second, "pdf") == render(load_issued_statement(con, uid("alice"), third, 2), "pdf")

    with pytest.raises(NoStatementError, match=f"no version 3 of the statement of customer {uid('alice')} for "
                       f"{third:%Y-%m}: versions 1 to 2 were issued"):  # fmt: skip
        load_issued_statement(con, uid("alice"), third, 3)


def test_verification_accepts_each_issued_file_and_rejects_an_edited_one(history, con):
    third = history.months[2]
    for fmt in ("pdf", "csv"):
        first, second = (render(load_issued_statement(con, uid("alice"), third, v), fmt) for v in (1, 2))
        old, new = verify_document(con, first), verify_document(con, second)
        assert (old.authentic, old.format, old.customer_id, old.month, old.version) == (
            True, fmt, uid("alice"), third, 1,
        )  # fmt: skip
        assert old.replaced and old.message == (
            f"authentic: version 1 of the statement of customer {uid('alice')} for {third:%Y-%m}, issued on "
            f"{issue_time(third).date()}; replaced by version 2, issued on {history.corrected_at.date()} "
            "(download the latest)"
        )
        assert (new.authentic, new.version, new.replaced) == (True, 2, False)
        assert new.message.endswith("it is the latest version")
        with pytest.raises(NotTheirsError):
            verify_document(con, second, customer_id=uid("bruno"))

    pdf = render(load_issued_statement(con, uid("alice"), third, 2), "pdf")
    resaved = io.BytesIO()
    pypdf.PdfWriter(clone_from=io.BytesIO(pdf)).write(resaved)  # opened and saved again in an editor
    edited_pdf = verify_document(con, resaved.getvalue())
    assert not edited_pdf.authentic and edited_pdf.version == 2
    assert edited_pdf.message == (
        f"not authentic: the PDF differs from version 2 of the statement of customer {uid('alice')} for "
        f"{third:%Y-%m}, issued on {history.corrected_at.date()}: it was changed after it was issued"
    )
    csv_text = render(load_issued_statement(con, uid("alice"), third, 2), "csv").decode()
    edited_csv = verify_document(con, csv_text.replace(",49.99,", ",4.99,").encode())
    assert not edited_csv.authentic and "matches no issued version" in edited_csv.message

    header_only = csv_text.splitlines()[0] + "\n"
    assert verify_document(con, header_only.encode()).message == (
        "cannot verify: this CSV has no lines, so it names no account: it cannot be identified"
    )
    not_issued = render(load_statement(con, uid("alice"), third), "pdf")  # straight from the marts
    assert verify_document(con, not_issued).message.startswith("cannot verify: this PDF names no issued statement")
    assert not verify_document(con, b"hello").authentic


def test_problems_when_the_marts_change_without_a_new_version(history, tmp_path):
    months = history.months
    with duckdb.connect(str(history.home.warehouse), read_only=True) as con:
        assert [issue_problems(con, month)[0] for month in months] == [0, 0, 0, 0]
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(history.home.warehouse, warehouse)
    bank = copy.deepcopy(history.home.bank)
    (refund,) = [t for t in bank.transactions if t["transaction_id"] == uid("bruno-refund-3")]
    refund["amount"] = D("16.00")
    write_marts(warehouse, bank)  # the marts change, nothing is issued
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update delivery.statement_issues set content = replace(content, '9000.00', '9900.00') "
            "where customer_id = ? and month_start = ?",
            [uid("chloe"), months[1]],
        )
        altered = f"customer {uid('chloe')} {months[1]:%Y-%m} version 1: stored content does not match its "
        assert issue_problems(con, months[1]) == (1, [altered + "recorded SHA-256"])
        changed = f"customer {uid('bruno')} {months[3]:%Y-%m}: the marts changed since version 1 was issued, "
        assert issue_problems(con, months[3]) == (1, [changed + "and no newer version was issued"])
        # issuing the month settles it: Bruno's version 2
        issued = issue_month(con, months[3], now=history.corrected_at)
        assert (issued.corrections, issue_problems(con, months[3])[0]) == (1, 0)
        assert [record.version for record in issued_versions(con, uid("bruno"), months[3])] == [1, 2]
