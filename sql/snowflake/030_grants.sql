-- Privileges, including future grants so tables created later (by Airbyte or dbt) are covered.
-- Schema-level future grants, since they take precedence over database-level ones.
use role securityadmin;

-- warehouses: each role uses its own
grant usage on warehouse {{ ingest_warehouse }} to role {{ ingest_role }};
grant usage on warehouse {{ transform_warehouse }} to role {{ transform_role }};
grant usage on warehouse {{ reporting_warehouse }} to role {{ reporting_role }};

grant usage on database {{ database }} to role {{ ingest_role }};
grant usage on database {{ database }} to role {{ transform_role }};
grant usage on database {{ database }} to role {{ reporting_role }};

-- ingestion: what destination-snowflake 4.x runs, nothing else (tests/unit/test_snowflake_ingest_grants.py).
-- In raw (final tables) and its internal schema (temporary tables) it creates a CSV file format,
-- its tables and one stage per table. It owns what it creates, and ownership covers everything
-- it then runs on them (PUT, COPY INTO, MERGE, INSERT, ALTER, SWAP, DROP), so no table grant.
grant usage, create table, create stage, create file format on schema {{ database }}.raw to role {{ ingest_role }};
grant usage, create table, create stage, create file format on schema {{ database }}.{{ airbyte_internal_schema }} to role {{ ingest_role }};

-- transformation: reads raw ...
grant usage on schema {{ database }}.raw to role {{ transform_role }};
grant select on all tables in schema {{ database }}.raw to role {{ transform_role }};
grant select on future tables in schema {{ database }}.raw to role {{ transform_role }};
-- ... and builds the dbt layers (it owns what it creates there)
grant usage, create table, create view on schema {{ database }}.staging to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.intermediate to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.snapshots to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.marts to role {{ transform_role }};
-- ... and keeps the alert audit trail, and reads the access log (`finefinance access-log`)
grant usage, create table on schema {{ database }}.audit to role {{ transform_role }};
grant select on table {{ database }}.audit.access_log to role {{ transform_role }};
-- ... and issues statements (delivery.statement_issues; the stage takes large array-bound inserts)
grant usage, create table, create stage on schema {{ database }}.delivery to role {{ transform_role }};

-- reporting: reads the marts and the issued statements, and appends to the access log; nothing else
grant usage on schema {{ database }}.marts to role {{ reporting_role }};
grant select on all tables in schema {{ database }}.marts to role {{ reporting_role }};
grant select on all views in schema {{ database }}.marts to role {{ reporting_role }};
grant select on future tables in schema {{ database }}.marts to role {{ reporting_role }};
grant select on future views in schema {{ database }}.marts to role {{ reporting_role }};
-- the issued statements: the delivery schema holds delivery.statement_issues only, which
-- transformation creates on first issue (hence a future grant, not a grant on the table)
grant usage on schema {{ database }}.delivery to role {{ reporting_role }};
grant select on all tables in schema {{ database }}.delivery to role {{ reporting_role }};
grant select on future tables in schema {{ database }}.delivery to role {{ reporting_role }};
-- the access log: insert only (no select, update or delete: a reader cannot read or rewrite it)
grant usage on schema {{ database }}.audit to role {{ reporting_role }};
grant insert on table {{ database }}.audit.access_log to role {{ reporting_role }};
