{#- Layers are schemas named exactly staging / intermediate / snapshots / marts, not prefixed with
    the target's schema, so the warehouse, the Dagster asset keys and the repo folders agree. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
