"""Python asset checks that guard the money; dbt's tests arrive as checks through dagster-dbt."""
