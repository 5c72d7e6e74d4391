"""The ingest role's grants are exactly what the pinned destination-snowflake (4.x) runs.

The connector's statements were read in airbytehq/airbyte,
airbyte-integrations/connectors/destination-snowflake/src/main/kotlin/io/airbyte/integrations/
destination/snowflake/ (abbreviated `.../` below), at the commits named for each.
"""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from finefinance_platform.production import snowflake_setup as sf
from finefinance_platform.settings import load_settings

DATABASE = "finefinance"
RAW = f"{DATABASE}.raw"
INTERNAL = f"{DATABASE}.{sf.AIRBYTE_INTERNAL_SCHEMA.lower()}"

# What the connector runs, by kind, and the privileges it needs on (object kind, object name).
# It writes final tables to the configured `schema` (RAW). It writes temporary tables (dedup,
# truncate refreshes) to `raw_data_schema` (AIRBYTE_INTERNAL): SnowflakeBeanFactory.kt builds
# its tempTableNameGenerator with internalNamespace = internalTableSchema (read in the code index;
# the index did not show that version's commit). The role owns every object it creates, and
# ownership covers every later statement on them, so those statements need no grant.
CONNECTOR_STATEMENTS: list[tuple[str, set[tuple[str, str, str]]]] = [
    # every statement runs on the configured warehouse, in the configured database
    ("connect: warehouse and database", {("warehouse", sf.INGEST_WAREHOUSE.lower(), "usage")}),
    ("connect: database", {("database", DATABASE, "usage")}),
    # createNamespace: it asks whether the schema exists and runs CREATE SCHEMA IF NOT EXISTS
    # only if it does not (.../client/SnowflakeAirbyteClient.kt @ 01ac8460983ed61c2fcb417166d113fcd32e1a44).
    # Both schemas come from sql/snowflake/010_database.sql, so it never needs CREATE SCHEMA.
    ("select schema exists (raw, internal)", {("schema", RAW, "usage"), ("schema", INTERNAL, "usage")}),
    # createNamespace, then CREATE OR REPLACE FILE FORMAT "<schema>"."airbyte_csv_format"
    # (.../sql/SnowflakeDirectLoadSqlGenerator.kt @ 03fd2568e3323fc888b7011fae266ac679f25efe, createFileFormat)
    (
        "create or replace file format",
        {("schema", RAW, "create file format"), ("schema", INTERNAL, "create file format")},
    ),
    # createTable: CREATE [OR REPLACE] TABLE, final and temporary tables, and the check's test table
    # (SnowflakeDirectLoadSqlGenerator.kt @ 03fd2568, createTable; .../check/SnowflakeChecker.kt @
    # 07cf455192a2adbab505d6f4bd8ee47907715674)
    ("create [or replace] table", {("schema", RAW, "create table"), ("schema", INTERNAL, "create table")}),
    # createTable, then CREATE OR REPLACE STAGE "<schema>"."airbyte_stage_<table>" (SnowflakeAirbyteClient.kt
    # @ 01ac8460, createTable; SnowflakeDirectLoadSqlGenerator.kt @ 03fd2568, createSnowflakeStage)
    ("create or replace stage", {("schema", RAW, "create stage"), ("schema", INTERNAL, "create stage")}),
    # On what it owns (OWNERSHIP, no grant): PUT into its stage and COPY INTO its table
    # (.../write/load/SnowflakeInsertBuffer.kt @ 056e1fc2585518eb8ebb6041d1cf546273de7e66, flush), MERGE
    # (upsertTable), INSERT ... SELECT (copyTable), ALTER TABLE ADD/DROP/RENAME COLUMN and UPDATE
    # (alterTable), ALTER TABLE ... SWAP WITH (swapTableWith), DROP TABLE/STAGE IF EXISTS,
    # SELECT COUNT(*), DESCRIBE TABLE, SHOW COLUMNS (SnowflakeDirectLoadSqlGenerator.kt @ 03fd2568).
    # ALTER TABLE ... RENAME of a temporary table into raw also needs CREATE TABLE on raw (above).
    ("put, copy into, merge, insert, update, alter, swap, drop, describe on its own objects", set()),
]

GRANT = re.compile(
    r"^grant (?P<privileges>.+?) on (?P<kind>warehouse|database|schema) (?P<name>\S+) to role (?P<role>\S+)$"
)


def _key_file(directory, name: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / f"{name}.pub"
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(path)


@pytest.fixture(scope="module")
def ingest_grants(tmp_path_factory) -> list[str]:
    directory = tmp_path_factory.mktemp("keys")
    settings = load_settings(
        {
            "FINEFINANCE_WAREHOUSE": "snowflake",
            "FINEFINANCE_SNOWFLAKE_ACCOUNT": "acme-finefinance",
            **{
                f"FINEFINANCE_SNOWFLAKE_{name.upper()}_PUBLIC_KEY_PATH": _key_file(directory, name)
                for name in ("ingest", "transform", "reporting")
            },
        }
    )
    statements = [" ".join(s.split()).lower() for f in sf.render_setup(settings) for s in f.statements]
    role = sf.INGEST_ROLE.lower()
    return [s for s in statements if s.startswith("grant ") and s.endswith(f" to role {role}")]


def test_the_ingest_role_is_granted_what_the_connector_runs_and_nothing_else(ingest_grants):
    granted: set[tuple[str, str, str]] = set()
    for grant in ingest_grants:
        match = GRANT.match(grant)
        # a grant on tables (even future ones), on the account or of a role would be more than it runs
        assert match, f"the ingest role is granted something no connector statement needs: {grant}"
        for privilege in match["privileges"].split(", "):
            granted.add((match["kind"], match["name"], privilege))

    needed = set().union(*(privileges for _, privileges in CONNECTOR_STATEMENTS))
    assert sorted(needed - granted) == [], "the connector runs statements the ingest role may not"
    assert sorted(granted - needed) == [], "the ingest role holds privileges no connector statement needs"
