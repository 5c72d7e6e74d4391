"""Orchestration: the jobs and schedules, the late-data sensor, freshness policies, alerts (and the
advisors' alert notices), the warehouse's run lock and the local Dagster instance. The command-line
runs of the jobs are runs/; the monthly partitions are transformation/partitions.py."""
