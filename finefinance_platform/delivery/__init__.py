"""Delivery to people: statements (CLI, export, HTTP service) and the dashboards.

Everything here reads the marts of DESIGN §4 only, so a statement or a chart always agrees with
what the warehouse says. Readers go through `serving.open_marts()`, a read-only copy published
atomically after each materialization, so they never block (or are blocked by) the pipeline.
"""
