-- Read-only role for ingestion (dlt locally, Airbyte in production). Its LOGIN and password are set
-- by the platform from the environment (FINEFINANCE_SOURCE_READER_PASSWORD), never stored here.
do $$
begin
    if not exists (select from pg_roles where rolname = 'finefinance_reader') then
        create role finefinance_reader nologin;
    end if;
end
$$;

alter role finefinance_reader set default_transaction_read_only = on;

grant usage on schema crm, banking, product to finefinance_reader;
grant select on all tables in schema crm, banking, product to finefinance_reader;
-- tables added by later migrations are readable too
alter default privileges in schema crm, banking, product grant select on tables to finefinance_reader;
