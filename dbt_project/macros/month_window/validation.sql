{#-
  The month window of a run: `month_start` (inclusive) and `month_end` (exclusive), ISO dates of
  first days of months, as dbt vars (`--vars`, by hand) or, from Dagster's monthly partitions, as
  the environment variables FINEFINANCE_MONTH_START / FINEFINANCE_MONTH_END. Those are read only
  while running (`execute`), never while parsing: dbt parses the whole project again when its vars
  or a parse-time environment variable change, and every partition is a new window. Without
  `month_end` the window is the one month `month_start`; without both, every month (a full build).
  Every month-grain model, its incremental strategy and its tests read the window through
  month_window(), so a bad window stops the run before anything is written, with one message.
-#}

{#- A window that is not made of whole months would delete and insert part of a month -#}
{% macro _month_var(name, value) -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-01$', text) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var " ~ name ~ "=" ~ text ~ " is not the first day of a month (expected YYYY-MM-01)") }}
    {%- endif -%}
    {{ return(modules.datetime.datetime.strptime(text, '%Y-%m-%d').date()) }}
{%- endmacro %}

{#- Jinja has no month arithmetic: count months from year 0 -#}
{% macro _shift_month(day, months) -%}
    {%- set index = day.year * 12 + day.month - 1 + months -%}
    {{ return(modules.datetime.date(index // 12, index % 12 + 1, 1)) }}
{%- endmacro %}

{#- {'start': 'YYYY-MM-01', 'end': ..., 'previous': the month before start}, or none for all months -#}
{% macro month_window() -%}
    {%- set start_value = var('month_start', none) -%}
    {%- set end_value = var('month_end', none) -%}
    {%- if start_value is none and end_value is none and execute -%}
        {%- set start_value = env_var('FINEFINANCE_MONTH_START', '') or none -%}
        {%- set end_value = env_var('FINEFINANCE_MONTH_END', '') or none -%}
    {%- endif -%}
    {%- if start_value is none -%}
        {%- if end_value is not none -%}
            {{ exceptions.raise_compiler_error("dbt var month_end=" ~ end_value ~ " is set without month_start") }}
        {%- endif -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = _month_var('month_start', start_value) -%}
    {%- set end = _month_var('month_end', end_value) if end_value is not none else _shift_month(start, 1) -%}
    {%- if end <= start -%}
        {{ exceptions.raise_compiler_error(
            "dbt vars month_start=" ~ start ~ " and month_end=" ~ end ~ " are not a window (end must be after start)") }}
    {%- endif -%}
    {{ return({'start': start.isoformat(), 'end': end.isoformat(), 'previous': _shift_month(start, -1).isoformat()}) }}
{%- endmacro %}

{#- A typed literal, so a comparison with a date column never depends on implicit casts -#}
{% macro date_literal(iso_date) -%}
    cast('{{ iso_date }}' as date)
{%- endmacro %}
