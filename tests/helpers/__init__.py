"""Helpers the tests share: a test's own platform (`environment`), dbt runs on a fixture warehouse
(`dbt_runs`), the delivery tests' small bank (`delivery_fixtures`), the marts computed
independently from a bank's rows, hand-made or read from the source (`independent_marts`), crash
and fault injection (`reliability`), and a local stub of the Airbyte API (`airbyte_stub`)."""
