"""A statement's canonical content (deterministic JSON of its lines and totals), its SHA-256, and the
statement a stored content describes: what an issued version is, byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from finefinance_platform.statements.model import AccountStatement, Issue, Statement, StatementLine, money


def _timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z: '2026-10-02T06:00:00Z' (naive values are UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.removesuffix("Z"))


def _amount(value: Decimal) -> str:
    # a Decimal formats to 2 places with the rounding `money` uses; anything else goes through it
    return f"{value:.2f}" if type(value) is Decimal else f"{money(value):.2f}"


def canonical_content(statement: Statement) -> str:
    """The statement's lines and totals, as deterministic JSON: sorted keys, no spaces, amounts as
    2-decimal strings, timestamps ISO UTC. The customer's name is not in it (a name change is not a
    change of the statement); neither is anything about rendering (fonts, dates of generation)."""
    document = {
        "customer_id": statement.customer_id,
        "month": statement.month.isoformat(),
        "accounts": [
            {
                "account_id": account.account_id,
                "account_type": account.account_type,
                "currency": account.currency,
                "opening_balance": _amount(account.opening_balance),
                "total_credits": _amount(account.total_credits),
                "total_debits": _amount(account.total_debits),
                "closing_balance": _amount(account.closing_balance),
                "transaction_count": account.transaction_count,
                "lines": [
                    {
                        "transaction_id": line.transaction_id,
                        "transaction_date": _timestamp(line.transaction_date),
                        "booked_at": _timestamp(line.booked_at),
                        "description": line.description,
                        "category": line.category,
                        "direction": line.direction,
                        "amount": _amount(line.amount),
                        "running_balance": _amount(line.running_balance),
                    }
                    for line in account.lines
                ],
            }
            for account in statement.accounts
        ],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def statement_sha256(statement: Statement) -> str:
    return content_sha256(canonical_content(statement))


def statement_from_content(content: str, firstname: str, surname: str, issue: Issue | None = None) -> Statement:
    """The `Statement` a canonical content describes (the inverse of `canonical_content`)."""
    document = json.loads(content)
    accounts = tuple(
        AccountStatement(
            account_id=account["account_id"],
            account_type=account["account_type"],
            currency=account["currency"],
            opening_balance=Decimal(account["opening_balance"]),
            total_credits=Decimal(account["total_credits"]),
            total_debits=Decimal(account["total_debits"]),
            closing_balance=Decimal(account["closing_balance"]),
            transaction_count=account["transaction_count"],
            lines=tuple(
                StatementLine(
                    transaction_id=line["transaction_id"],
                    transaction_date=_parse_timestamp(line["transaction_date"]),
                    booked_at=_parse_timestamp(line["booked_at"]),
                    description=line["description"],
                    category=line["category"],
                    direction=line["direction"],
                    amount=Decimal(line["amount"]),
                    running_balance=Decimal(line["running_balance"]),
                )
                for line in account["lines"]
            ),
        )
        for account in document["accounts"]
    )
    month = dt.date.fromisoformat(document["month"])
    return Statement(document["customer_id"], firstname or "", surname or "", month, accounts, issue)
