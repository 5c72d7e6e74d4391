"""What changed between two versions of a statement: counted (lines added, removed, changed; the
closing balance before and after) and said in words, for the reason of a correction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from finefinance_platform.statements.model import Statement, format_eur


@dataclass(frozen=True)
class Changes:
    lines_added: int
    lines_removed: int
    lines_changed: int
    closing_before: Decimal
    closing_after: Decimal
    details: tuple[str, ...]


def total_closing(statement: Statement) -> Decimal:
    return sum((account.closing_balance for account in statement.accounts), Decimal("0.00"))


def _lines(statement: Statement) -> dict[tuple, tuple]:
    """(account, transaction, direction) -> what the line says (not its running balance: one changed
    amount moves every later running balance, which is not a change of those lines)."""
    return {
        (account.account_id, line.transaction_id, line.direction): (
            line.transaction_date,
            line.booked_at,
            line.description,
            line.category,
            line.amount,
        )
        for account in statement.accounts
        for line in account.lines
    }


def compare(old: Statement, new: Statement) -> Changes:
    """What changed from the issued `old` to `new`, counted and said in words."""
    old_lines, new_lines = _lines(old), _lines(new)
    added = len(new_lines.keys() - old_lines.keys())
    removed = len(old_lines.keys() - new_lines.keys())
    changed = sum(1 for key in old_lines.keys() & new_lines.keys() if old_lines[key] != new_lines[key])
    details = []
    if added or removed or changed:
        details.append(f"{added} line(s) added, {removed} removed, {changed} changed")
    old_accounts = {account.account_id: account for account in old.accounts}
    new_accounts = {account.account_id: account for account in new.accounts}
    for account_id in sorted(old_accounts.keys() - new_accounts.keys()):
        details.append(f"account ...{account_id[-6:]} no longer on the statement")
    for account in new.accounts:
        before = old_accounts.get(account.account_id)
        name = f"{account.label} ...{account.account_id[-6:]}"
        if before is None:
            details.append(f"{name} added")
            continue
        if before.opening_balance != account.opening_balance:
            details.append(
                f"opening balance of {name} {format_eur(before.opening_balance, account.currency)} -> "
                f"{format_eur(account.opening_balance, account.currency)} (an earlier month changed)"
            )
        if before.closing_balance != account.closing_balance:
            details.append(
                f"closing balance of {name} {format_eur(before.closing_balance, account.currency)} -> "
                f"{format_eur(account.closing_balance, account.currency)}"
            )
    return Changes(
        added, removed, changed, total_closing(old), total_closing(new), tuple(details) or ("content changed",)
    )
