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
-- the platform's alert audit trail (orchestration/alerts.py), written by transformation
create schema if not exists {{ database }}.audit comment = 'alerts on failed runs and checks';
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
