{#- A loan, card or investment is active in the month starting `month_start`
    (docs/business-definitions.md#active-in-a-month): it started before the month ended and had not ended
    before the month began. One definition, so loans outstanding, investments held and the product
    counts agree on what "active" means. -#}
{% macro active_in_month(start_column, end_column, month_start) -%}
    ({{ start_column }} < {{ add_months(month_start, 1) }}
        and ({{ end_column }} is null or {{ end_column }} >= {{ month_start }}))
{%- endmacro %}
