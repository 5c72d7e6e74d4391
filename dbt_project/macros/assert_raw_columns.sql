{#-
  on-run-start: every raw table still has each column the dbt sources declare
  (models/staging/__sources.yml), of the declared kind. A column dropped or retyped at the source
  stops the run here, with a message naming the table and column, before any model is built: no
  mart is rewritten from data its models cannot read. Extra columns are fine: ingestion adds new
  source columns to raw, and the models select theirs by name.

  Kinds, not exact types, are compared (text, number, date, timestamp, boolean): the same
  declaration holds for DuckDB (dlt) and Snowflake (Airbyte), and a wider decimal is no drift.
-#}
{% macro type_kind(data_type) -%}
    {%- set text = (data_type or '') | lower -%}
    {%- if 'timestamp' in text or 'datetime' in text -%}
        {{ return('timestamp') }}
    {%- elif text.startswith('date') -%}
        {{ return('date') }}
    {%- elif 'char' in text or 'text' in text or 'string' in text or 'uuid' in text -%}
        {{ return('text') }}
    {%- elif 'int' in text or 'dec' in text or 'numeric' in text or 'number' in text
        or 'double' in text or 'float' in text or 'real' in text -%}
        {{ return('number') }}
    {%- elif 'bool' in text -%}
        {{ return('boolean') }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}


{#- The drift found, one sentence per column; empty when raw matches the declarations -#}
{% macro raw_column_drift() %}
    {%- set problems = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'raw' -%}
        {%- set relation = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- if relation is none -%}
            {%- do problems.append(node.schema ~ '.' ~ node.identifier ~ ' does not exist') -%}
        {%- else -%}
            {%- set actual = {} -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do actual.update({column.name | lower: column.dtype}) -%}
            {%- endfor -%}
            {%- for name, declared in node.columns.items() if declared.data_type -%}
                {%- set where = node.schema ~ '.' ~ node.identifier -%}
                {%- if name | lower not in actual -%}
                    {%- do problems.append(
                        where ~ ' has no column ' ~ name ~ ' (declared ' ~ declared.data_type ~ ')') -%}
                {%- elif type_kind(actual[name | lower]) != type_kind(declared.data_type) -%}
                    {%- do problems.append(
                        where ~ '.' ~ name ~ ' is ' ~ actual[name | lower] ~ ', declared '
                        ~ declared.data_type) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(problems) }}
{% endmacro %}


{% macro assert_raw_columns() %}
    {#- only commands that build read raw; parse, compile, docs and seeds do not need it -#}
    {%- if execute and invocation_args_dict.get('which') in ('run', 'build', 'snapshot') -%}
        {%- set problems = raw_column_drift() -%}
        {%- if problems -%}
            {{ exceptions.raise_compiler_error(
                "schema drift in the raw tables, nothing was built: " ~ (problems | join('; '))
                ~ ". Restore the column at the source, or change its declaration in"
                ~ " models/staging/__sources.yml and the models that read it.") }}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}
