{#-
  The few places where DuckDB and Snowflake SQL differ, dispatched per adapter, so every model is
  written once and runs on both warehouses.
-#}

{#- `date_expression` plus `months` months, as a date -#}
{% macro add_months(date_expression, months) -%}
    {{ return(adapter.dispatch('add_months', 'finefinance')(date_expression, months)) }}
{%- endmacro %}

{% macro default__add_months(date_expression, months) -%}
    cast(dateadd(month, {{ months }}, {{ date_expression }}) as date)
{%- endmacro %}

{% macro duckdb__add_months(date_expression, months) -%}
    cast({{ date_expression }} + to_months({{ months }}) as date)
{%- endmacro %}

{#- A timestamp with time zone as a UTC timestamp without time zone -#}
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'finefinance')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    cast(convert_timezone('UTC', {{ column }}) as timestamp_ntz)
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{#-
  One row per day (column date_day) or per month (column month_start) in the half-open range
  [start_expression, end_expression); both are date expressions (scalar subqueries allowed).
-#}
{% macro date_spine(grain, start_expression, end_expression) -%}
    {%- if grain not in ('day', 'month') -%}
        {{ exceptions.raise_compiler_error("date_spine grain must be day or month, not " ~ grain) }}
    {%- endif -%}
    {{ return(adapter.dispatch('date_spine', 'finefinance')(grain, start_expression, end_expression)) }}
{%- endmacro %}

{% macro default__date_spine(grain, start_expression, end_expression) -%}
    {#- Snowflake has no series function: number rows of a generator (a row count must be a
        constant: 400 years of days, 1,200 years of months) and keep those inside the range -#}
    {%- set column = 'date_day' if grain == 'day' else 'month_start' -%}
    select {{ column }}
    from (
        select cast(dateadd({{ grain }}, steps.step, spine_bounds.first_value) as date) as {{ column }},
            spine_bounds.end_value
        from (
            select row_number() over (order by seq4()) - 1 as step
            from table(generator(rowcount => 146100))
        ) as steps
        cross join (
            select cast({{ start_expression }} as date) as first_value,
                cast({{ end_expression }} as date) as end_value
        ) as spine_bounds
    ) as spine
    where {{ column }} < end_value
{%- endmacro %}

{% macro duckdb__date_spine(grain, start_expression, end_expression) -%}
    {%- set column = 'date_day' if grain == 'day' else 'month_start' -%}
    select cast(unnest(range(
        cast(cast({{ start_expression }} as date) as timestamp),
        cast(cast({{ end_expression }} as date) as timestamp),
        interval 1 {{ grain }}
    )) as date) as {{ column }}
{%- endmacro %}

{% macro month_spine(start_expression, end_expression) -%}
    {{ date_spine('month', start_expression, end_expression) }}
{%- endmacro %}

{#-
  on-run-end: write the run's changes into the DuckDB file now (CHECKPOINT). DuckDB otherwise
  checkpoints whenever its write-ahead log passes a size, which lands a large pause on whichever
  month happens to cross it; Snowflake needs nothing.
-#}
{% macro checkpoint_warehouse() -%}
    {{ return(adapter.dispatch('checkpoint_warehouse', 'finefinance')()) }}
{%- endmacro %}

{% macro default__checkpoint_warehouse() -%}
    select 1
{%- endmacro %}

{% macro duckdb__checkpoint_warehouse() -%}
    checkpoint
{%- endmacro %}

{#- The values of `expression` joined by `delimiter` (a SQL string literal), in `order_by` order -#}
{% macro ordered_string_agg(expression, delimiter, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'finefinance')(expression, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, delimiter, order_by) -%}
    listagg({{ expression }}, {{ delimiter }}) within group (order by {{ order_by }})
{%- endmacro %}

{% macro duckdb__ordered_string_agg(expression, delimiter, order_by) -%}
    string_agg({{ expression }}, {{ delimiter }} order by {{ order_by }})
{%- endmacro %}
