"""Transformation: the dbt project (`dbt_project/`) as Dagster assets, on the monthly partitions
(`partitions.py`) every partitioned asset shares."""
