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

-- ingestion: creates and writes the raw tables (and Airbyte's loading tables), nothing else
grant usage, create table, create stage on schema {{ database }}.raw to role {{ ingest_role }};
grant usage, create table, create stage on schema {{ database }}.{{ airbyte_internal_schema }} to role {{ ingest_role }};
grant select, insert, update, delete, truncate on future tables in schema {{ database }}.raw to role {{ ingest_role }};

-- transformation: reads raw ...
grant usage on schema {{ database }}.raw to role {{ transform_role }};
grant select on all tables in schema {{ database }}.raw to role {{ transform_role }};
grant select on future tables in schema {{ database }}.raw to role {{ transform_role }};
-- ... and builds the dbt layers (it owns what it creates there)
grant usage, create table, create view on schema {{ database }}.staging to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.intermediate to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.snapshots to role {{ transform_role }};
grant usage, create table, create view on schema {{ database }}.marts to role {{ transform_role }};
-- ... and keeps the alert audit trail
grant usage, create table on schema {{ database }}.audit to role {{ transform_role }};

-- reporting: reads the marts, and only them
grant usage on schema {{ database }}.marts to role {{ reporting_role }};
grant select on all tables in schema {{ database }}.marts to role {{ reporting_role }};
grant select on all views in schema {{ database }}.marts to role {{ reporting_role }};
grant select on future tables in schema {{ database }}.marts to role {{ reporting_role }};
grant select on future views in schema {{ database }}.marts to role {{ reporting_role }};
