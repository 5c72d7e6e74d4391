{#-
  dbt's documented hook for test `where` configs: the placeholder __month_window__ becomes the
  run's month window on month_start (1 = 1 on a full build), so tests of a month-grain mart read
  only the months the run wrote.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__month_window__' in where -%}
            {%- set where = where | replace('__month_window__', month_window_filter('month_start')) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
