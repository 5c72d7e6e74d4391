"""The monthly statement as a record: read from the marts, issued (`issuing/`), rendered to PDF and
CSV, verified, exported to files, and the Dagster assets that issue and render each month.

Everything here reads the marts (docs/business-definitions.md#warehouse-tables) and the issued
statements (delivery.statement_issues, docs/business-definitions.md#issued-statements-are-records)
only, so a statement always agrees with what the warehouse says, and a statement once issued is
served as it was issued.
"""
