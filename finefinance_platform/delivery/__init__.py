"""Delivery to people: statements (CLI, export, HTTP service) and the dashboards.

Everything here reads the marts (docs/business-definitions.md#warehouse-tables) and the issued
statements (delivery.statement_issues, docs/business-definitions.md#issued-statements-are-records)
only, so a statement or a chart always agrees with what the warehouse says, and a statement once
issued is served as it was issued. Readers go through `serving.open_marts()`, a read-only copy published
atomically after each materialization, so they never block (or are blocked by) the pipeline.
"""
