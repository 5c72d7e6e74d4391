"""The operational source: embedded PostgreSQL, its DDL migrations, and the simulator that fills it."""
