{#-
  What a month-grain model can carry over from earlier months instead of recomputing them. These
  macros query the warehouse while compiling, so they answer only when executing (parse sees
  false): the models name the refs of both paths in `-- depends_on:` for that reason.
-#}

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
