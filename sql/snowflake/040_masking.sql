-- Personal columns (firstname, surname, email) are masked for every role but transformation
-- (and the administrators above it), with one exception: names are clear for reporting, the
-- identity the dashboards and the statement service read as, because what each person sees there
-- is decided row by row by the platform's access policy (an advisor sees their own customers'
-- names, a customer their own name on their statement; a director none). Emails, which no reader
-- shows, stay masked for reporting ('*****@domain'); any other role sees '*****' names. One policy per personal column, named after it: dbt attaches
-- governance.mask_<column> to every model column of that name when it builds the model
-- (dbt_project/macros/snowflake/masking.sql), since a rebuilt table loses its policies.
use role sysadmin;

create masking policy if not exists {{ database }}.governance.mask_firstname as (val string) returns string -> val;
create masking policy if not exists {{ database }}.governance.mask_surname as (val string) returns string -> val;
create masking policy if not exists {{ database }}.governance.mask_email as (val string) returns string -> val;

-- the bodies are (re)set here rather than with "create or replace", which Snowflake refuses
-- for a policy that is attached to columns
alter masking policy if exists {{ database }}.governance.mask_firstname set body ->
    case when is_role_in_session('{{ transform_role }}') or is_role_in_session('{{ reporting_role }}') then val
    else '*****' end;
alter masking policy if exists {{ database }}.governance.mask_surname set body ->
    case when is_role_in_session('{{ transform_role }}') or is_role_in_session('{{ reporting_role }}') then val
    else '*****' end;
alter masking policy if exists {{ database }}.governance.mask_email set body ->
    case when is_role_in_session('{{ transform_role }}') then val else regexp_replace(val, '^[^@]+', '*****') end;

use role securityadmin;
-- dbt (transformation) attaches the policies to the columns of the models it builds
grant usage on schema {{ database }}.governance to role {{ transform_role }};
grant apply on masking policy {{ database }}.governance.mask_firstname to role {{ transform_role }};
grant apply on masking policy {{ database }}.governance.mask_surname to role {{ transform_role }};
grant apply on masking policy {{ database }}.governance.mask_email to role {{ transform_role }};
