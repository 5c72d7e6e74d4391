{#- The grain of a table: no two rows share these columns (dbt_utils is not reachable here) -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns_csv = combination_of_columns | join(', ') -%}
    select {{ columns_csv }}, count(*) as row_count
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
{% endtest %}
