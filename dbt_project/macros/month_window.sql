{#-
  The month window of a run: `month_start` (inclusive) and `month_end` (exclusive), ISO dates of
  first days of months, as dbt vars (`--vars`, by hand) or, from Dagster's monthly partitions, as
  the environment variables FINEFINANCE_MONTH_START / FINEFINANCE_MONTH_END. Those are read only
  while running (`execute`), never while parsing: dbt parses the whole project again when its vars
  or a parse-time environment variable change, and every partition is a new window. Without
  `month_end` the window is the one month `month_start`; without both, every month (a full build).
  Every month-grain model, its incremental strategy and its tests read the window through these
  macros, so the rule is written once.
-#}

{% macro _month_var(name, value) -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-01$', text) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var " ~ name ~ "=" ~ text ~ " is not the first day of a month (expected YYYY-MM-01)") }}
    {%- endif -%}
    {{ return(modules.datetime.datetime.strptime(text, '%Y-%m-%d').date()) }}
{%- endmacro %}

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

{% macro date_literal(iso_date) -%}
    cast('{{ iso_date }}' as date)
{%- endmacro %}

{#- A predicate keeping the rows of `column` (a date or a UTC timestamp) inside the window -#}
{% macro month_window_filter(column) -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ date_literal(window.start) }} and {{ column }} < {{ date_literal(window.end) }}
    {%- endif -%}
{%- endmacro %}

{#- The window and the month before it (tests comparing a month with the previous one) -#}
{% macro month_window_and_previous_filter(column) -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ date_literal(window.previous) }} and {{ column }} < {{ date_literal(window.end) }}
    {%- endif -%}
{%- endmacro %}

{#-
  True when this incremental model already holds the month before the window: its rows are the
  state a month carries forward (closing balances, streak lengths), so a month costs the same
  whatever the history length. False on a full build, a first run, a full refresh, or when that
  month was never built: the model then recomputes from the start of the data (the fallback).
-#}
{% macro previous_month_is_built() -%}
    {%- set window = month_window() -%}
    {%- if not execute or window is none or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from " ~ this ~ " where month_start = " ~ date_literal(window.previous)) -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#-
  True when the source has transactions booked before the window. A model that cannot carry the
  previous month's state recomputes from the start of the data; when no transaction precedes the
  window (the first backfill of the whole history, a full build), the window's transactions are
  all it needs, and it reads them from fct_transaction, built first in the same run, instead of
  int_completed_transactions, which deduplicates and checks all of raw again (at scale M, seconds
  per model). Unit tests override it: a query here cannot read their fixtures.
-#}
{% macro transactions_before_window() -%}
    {%- set window = month_window() -%}
    {%- if not execute or window is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select cast(" ~ to_utc_timestamp('min(booked_at)') ~ " as date) < " ~ date_literal(window.start)
        ~ " from (" ~ calendar_transactions() ~ ") as calendar") -%}
    {{ return(found.columns[0].values()[0] == true) }}
{%- endmacro %}

{#- Bookings that can place a month on the calendar (a transaction counts in its booking month):
    completed and booked, not in the future, not before the first account opened (so a quarantined
    row cannot stretch it). Read from raw with those checks only, on the raw column: a scan of tens of
    milliseconds at scale M, where the checked stg_transaction costs a deduplication and joins
    (seconds). A row booked once stays booked: the bounds need no deduplication. Callers convert
    the min or max to UTC (one value, not every row). -#}
{% macro calendar_transactions() -%}
    select booked_at
    from {{ source('raw', 'transaction') }}
    where status = 'completed'
        and booked_at <= current_timestamp + interval '1 day'
        and booked_at >= (select min(open_date) from {{ ref('stg_account') }})
{%- endmacro %}

{#- First month holding any data: accounts opened, customers signed up, transactions -#}
{% macro first_data_month() -%}
    (
        select min(first_month) from (
            select min(cast(date_trunc('month', open_date) as date)) as first_month from {{ ref('stg_account') }}
            union all
            select min(cast(date_trunc('month', signup_date) as date)) from {{ ref('stg_customer') }}
            union all
            select cast(date_trunc('month', {{ to_utc_timestamp('min(booked_at)') }}) as date)
            from ({{ calendar_transactions() }}) as calendar
        ) as firsts
    )
{%- endmacro %}

{% macro last_data_month() -%}
    (
        select max(last_month) from (
            select max(cast(date_trunc('month', open_date) as date)) as last_month from {{ ref('stg_account') }}
            union all
            select max(cast(date_trunc('month', signup_date) as date)) from {{ ref('stg_customer') }}
            union all
            select cast(date_trunc('month', {{ to_utc_timestamp('max(booked_at)') }}) as date)
            from ({{ calendar_transactions() }}) as calendar
        ) as lasts
    )
{%- endmacro %}

{#-
  The months a month-grain model computes, one row each (column month_start):
  - the window, when the previous month's state is carried (`carry`);
  - every month of the data up to the window's end otherwise (first run, full build, fallback);
    the model then keeps only the window's months in its final select.
-#}
{% macro months_to_compute(carry) -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        {{ month_spine(first_data_month(), add_months(last_data_month(), 1)) }}
    {%- elif carry -%}
        {{ month_spine(date_literal(window.start), date_literal(window.end)) }}
    {%- else -%}
        {{ month_spine(
            'coalesce(least(' ~ first_data_month() ~ ', ' ~ date_literal(window.start) ~ '), '
                ~ date_literal(window.start) ~ ')',
            date_literal(window.end)) }}
    {%- endif -%}
{%- endmacro %}

{#- The window's months only (full build: the data's months) -#}
{% macro window_months() -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        {{ month_spine(first_data_month(), add_months(last_data_month(), 1)) }}
    {%- else -%}
        {{ month_spine(date_literal(window.start), date_literal(window.end)) }}
    {%- endif -%}
{%- endmacro %}

{#- A loan, card or investment is active in the month starting `month_start` (docs/business-definitions.md) -#}
{% macro active_in_month(start_column, end_column, month_start) -%}
    ({{ start_column }} < {{ add_months(month_start, 1) }}
        and ({{ end_column }} is null or {{ end_column }} >= {{ month_start }}))
{%- endmacro %}

