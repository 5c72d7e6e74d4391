"""The production path: Snowflake setup, the Airbyte connection's bootstrap, Snowflake resources.

See docs/production.md. Nothing here runs in the embedded default; each module is imported only
when production is selected (FINEFINANCE_WAREHOUSE=snowflake, FINEFINANCE_INGESTION=airbyte) or
its CLI command is called.
"""
