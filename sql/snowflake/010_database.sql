-- FineFinance warehouse: database, schemas and one warehouse per workload (docs/business-definitions.md#warehouse-tables).
-- Applied by `finefinance snowflake setup`; every statement is idempotent, so the whole
-- directory is re-run after any change. The Jinja placeholders are filled from the settings
-- (object names and public keys, never a secret).
use role sysadmin;

create database if not exists {{ database }}
    comment = 'FineFinance data platform (sql/snowflake)';

create schema if not exists {{ database }}.raw comment = 'ingested copies of the operational tables (Airbyte)';
create schema if not exists {{ database }}.staging comment = 'dbt: stg_ views over raw';
create schema if not exists {{ database }}.intermediate comment = 'dbt: reusable int_ models';
create schema if not exists {{ database }}.snapshots comment = 'dbt: snapshots (customer profile history)';
create schema if not exists {{ database }}.marts comment = 'dbt: the public marts (docs/business-definitions.md#warehouse-tables)';
-- the platform's alert audit trail (orchestration/alerts.py), written by transformation, and the
-- access log of the readers (access/access_log.py), appended to by reporting
create schema if not exists {{ database }}.audit comment = 'alerts on failed runs and checks; who read which customer data';
-- issued statements (finefinance_platform/statements/issuing/): written by transformation, read by reporting
create schema if not exists {{ database }}.delivery comment = 'issued statements (delivery.statement_issues)';
-- masking policies live apart from the data they protect
create schema if not exists {{ database }}.governance comment = 'masking policies';
-- Airbyte's own loading tables, written by the ingestion role only, read by nobody else
create schema if not exists {{ database }}.{{ airbyte_internal_schema }} comment = 'Airbyte loading tables';

-- One warehouse per workload: ingestion never queues behind a dbt build or a dashboard,
-- and each bill is visible on its own. All suspend after a minute idle and wake on demand.
create warehouse if not exists {{ ingest_warehouse }}
    warehouse_size = 'XSMALL' auto_suspend = 60 auto_resume = true initially_suspended = true
    comment = 'Airbyte loads into raw';
create warehouse if not exists {{ transform_warehouse }}
    warehouse_size = 'SMALL' auto_suspend = 60 auto_resume = true initially_suspended = true
    comment = 'dbt builds and Dagster checks';
create warehouse if not exists {{ reporting_warehouse }}
    warehouse_size = 'XSMALL' auto_suspend = 60 auto_resume = true initially_suspended = true
    comment = 'dashboards and the statement service';

-- create ... if not exists leaves an existing warehouse as it was: re-assert the settings
alter warehouse if exists {{ ingest_warehouse }} set auto_suspend = 60 auto_resume = true;
alter warehouse if exists {{ transform_warehouse }} set auto_suspend = 60 auto_resume = true;
alter warehouse if exists {{ reporting_warehouse }} set auto_suspend = 60 auto_resume = true;

-- The access log exists before any reader runs, so the reporting role needs no right to create
-- tables: it only appends (030_grants.sql). Columns as docs/access.md describes them.
create table if not exists {{ database }}.audit.access_log (
    accessed_at timestamp_ntz not null comment 'UTC',
    subject varchar comment 'who, as the identity provider names them (sub)',
    role varchar,
    action varchar not null,
    customer_id varchar,
    month_start date,
    outcome varchar not null comment 'allowed or denied',
    channel varchar not null comment 'dashboard, http or cli',
    detail varchar,
    client varchar comment 'the caller''s network address, when there is one (http)',
    count number(38, 0) default 1 comment 'accesses the row stands for (more than 1: counted anonymous refusals)'
) comment = 'one row per display or download of customer data, and per refusal (anonymous ones counted per client and minute)';
-- a log created before those columns gets them (its rows stand for one access each: readers take
-- a missing count as 1); the reporting role still only inserts, no row is ever updated
alter table if exists {{ database }}.audit.access_log add column if not exists
    client varchar comment 'the caller''s network address, when there is one (http)';
alter table if exists {{ database }}.audit.access_log add column if not exists
    count number(38, 0) default 1 comment 'accesses the row stands for (more than 1: counted anonymous refusals)';
