{#- Month-over-month growth in percent, NULL where the previous value is 0 or missing -#}
{% macro growth_pct(current_value, previous_value) -%}
    case
        when {{ previous_value }} is null or {{ previous_value }} = 0 then null
        else round(
            100 * (cast({{ current_value }} as double) - cast({{ previous_value }} as double))
            / cast({{ previous_value }} as double),
            4
        )
    end
{%- endmacro %}
