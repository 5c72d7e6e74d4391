{#-
  The fakesnow emulator (tests, and local trials of the Snowflake path) runs Snowflake SQL on
  DuckDB. Where it cannot follow Snowflake, the snowflake adapter's behaviour is adjusted here for
  the emulator only; real Snowflake takes dbt-snowflake's own path.
-#}

{#- True on the emulator: it only answers to the account name `fakesnow` (profiles.yml) -#}
{% macro is_snowflake_emulator() -%}
    {{ return(target.type == 'snowflake' and target.account | lower == 'fakesnow') }}
{%- endmacro %}


{#-
  dbt-snowflake builds incremental merges, snapshots and unit tests through temporary tables
  named <database>.<schema>.<model>__dbt_tmp. DuckDB keeps temporary tables in its own `temp`
  catalog and refuses such a name ("TEMPORARY table names can only use the temp catalog"), which
  failed every incremental run after the first; unqualified, fakesnow cannot describe them (and
  snapshots then merge no column). On the emulator they are transient tables instead: same name,
  same SQL around them, and dbt drops them when the model is done.
-#}
{% macro snowflake__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- if temporary and language == 'sql' and is_snowflake_emulator() -%}
        {{ dbt.snowflake__create_table_transient_sql(relation, compiled_code) }}
    {%- else -%}
        {{ dbt.snowflake__create_table_as(temporary, relation, compiled_code, language) }}
    {%- endif -%}
{%- endmacro %}


{#-
  A snapshot's MERGE inserts `values (<columns>)`, unqualified: Snowflake reads them from the
  source, fakesnow's MERGE emulation finds them ambiguous ("Ambiguous reference to column name").
  On the emulator the values name their source (DBT_INTERNAL_SOURCE.<column>), which means the
  same to Snowflake; everything else is dbt's own merge.
-#}
{% macro snowflake__snapshot_merge_sql(target, source, insert_cols) -%}
    {%- if not is_snowflake_emulator() -%}
        {{ return(dbt.snowflake__snapshot_merge_sql(target, source, insert_cols)) }}
    {%- endif -%}
    {%- set qualified = [] -%}
    {%- for column in insert_cols -%}
        {%- do qualified.append('DBT_INTERNAL_SOURCE.' ~ column) -%}
    {%- endfor -%}
    {%- set dml = dbt.default__snapshot_merge_sql(target, source, insert_cols) | replace(
        'values (' ~ (insert_cols | join(', ')) ~ ')', 'values (' ~ (qualified | join(', ')) ~ ')') -%}
    {#- no explicit transaction around it: fakesnow emulates MERGE with a temporary table of its
        own, which DuckDB cannot create in a transaction that has already written elsewhere -#}
    {{ return(dml) }}
{%- endmacro %}
