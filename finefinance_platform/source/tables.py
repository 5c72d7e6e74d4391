"""The eight operational tables: where each lives and its primary key.

Ingestion (dlt or Airbyte), the reconciliation checks and the bootstrap of the production
connection all read this one list, so a new table is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceTable:
    name: str  # also the raw table's name in the warehouse: raw.<name>
    schema: str
    primary_key: tuple[str, ...]
    # the business date used to reconcile source and raw per month (None: not month-grained)
    month_column: str | None = None
    # the money column whose sum is reconciled (None: no money)
    amount_column: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


SOURCE_TABLES: tuple[SourceTable, ...] = (
    SourceTable("advisor", "crm", ("advisor_id",)),
    SourceTable("customer", "crm", ("customer_id",), month_column="signup_date"),
    SourceTable("account", "banking", ("account_id",), month_column="open_date"),
    SourceTable("transaction", "banking", ("transaction_id",), "transaction_date", "amount"),
    SourceTable("balance", "banking", ("account_id", "balance_date"), "balance_date", "balance"),
    SourceTable("loan", "product", ("loan_id",), "start_date", "amount"),
    SourceTable("investment", "product", ("investment_id",), "opened_at", "amount"),
    SourceTable("credit_card", "product", ("card_id",), "start_date", "fee"),
)

SOURCE_TABLES_BY_NAME = {table.name: table for table in SOURCE_TABLES}
# "<schema>.<name>" in the same order: what the simulator truncates, loads and counts
SOURCE_QUALIFIED_NAMES: tuple[str, ...] = tuple(table.qualified_name for table in SOURCE_TABLES)
