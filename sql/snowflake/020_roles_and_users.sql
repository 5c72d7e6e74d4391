-- Roles and service users. Least privilege (grants in 030): ingestion writes raw only,
-- transformation reads raw and writes the dbt layers, reporting reads marts only.
-- Users authenticate with a key pair: RSA_PUBLIC_KEY comes from the settings, no passwords.
use role securityadmin;

create role if not exists {{ ingest_role }} comment = 'Airbyte: writes raw';
create role if not exists {{ transform_role }} comment = 'dbt and Dagster: reads raw, writes staging to marts';
create role if not exists {{ reporting_role }} comment = 'dashboards and statements: reads marts';

-- the custom roles roll up to SYSADMIN, so administrators can manage what they own
grant role {{ ingest_role }} to role sysadmin;
grant role {{ transform_role }} to role sysadmin;
grant role {{ reporting_role }} to role sysadmin;

create user if not exists {{ ingest_user }}
    type = service default_role = {{ ingest_role }} default_warehouse = {{ ingest_warehouse }}
    rsa_public_key = '{{ ingest_public_key }}' comment = 'Airbyte destination';
create user if not exists {{ transform_user }}
    type = service default_role = {{ transform_role }} default_warehouse = {{ transform_warehouse }}
    rsa_public_key = '{{ transform_public_key }}' comment = 'dbt and Dagster';
create user if not exists {{ reporting_user }}
    type = service default_role = {{ reporting_role }} default_warehouse = {{ reporting_warehouse }}
    rsa_public_key = '{{ reporting_public_key }}' comment = 'dashboards and the statement service';

-- an existing user keeps its old key with "if not exists": set the current one (rotation)
alter user if exists {{ ingest_user }} set rsa_public_key = '{{ ingest_public_key }}';
alter user if exists {{ transform_user }} set rsa_public_key = '{{ transform_public_key }}';
alter user if exists {{ reporting_user }} set rsa_public_key = '{{ reporting_public_key }}';

grant role {{ ingest_role }} to user {{ ingest_user }};
grant role {{ transform_role }} to user {{ transform_user }};
grant role {{ reporting_role }} to user {{ reporting_user }};
