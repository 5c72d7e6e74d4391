"""Ingestion: the eight source tables land in raw.<table> (dlt locally, Airbyte in production)."""
