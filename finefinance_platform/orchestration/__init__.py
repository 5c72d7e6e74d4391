"""Orchestration: the partitions, the dbt assets and translator, schedules, sensors and alerts."""
