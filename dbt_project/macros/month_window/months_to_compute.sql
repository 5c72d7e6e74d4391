{#-
  Which months a month-grain model computes. Without a carried state a model must start from the
  data's first month (balances and streaks accumulate), so the bounds of the data are part of the
  window logic; they are read cheaply, from raw, because every model of every month asks.
-#}

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

{#- The first (`min`) or last (`max`) month holding any data: accounts opened, customers signed
    up, transactions booked; both ends use the same sources so the spine covers all of them -#}
{% macro _data_month_bound(aggregate) -%}
    (
        select {{ aggregate }}(bound_month) from (
            select {{ aggregate }}(cast(date_trunc('month', open_date) as date)) as bound_month
            from {{ ref('stg_account') }}
            union all
            select {{ aggregate }}(cast(date_trunc('month', signup_date) as date)) from {{ ref('stg_customer') }}
            union all
            select cast(date_trunc('month', {{ to_utc_timestamp(aggregate ~ '(booked_at)') }}) as date)
            from ({{ calendar_transactions() }}) as calendar
        ) as bounds
    )
{%- endmacro %}

{% macro first_data_month() -%}
    {{ _data_month_bound('min') }}
{%- endmacro %}

{% macro last_data_month() -%}
    {{ _data_month_bound('max') }}
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

{#- The window's months only, for models with no state to carry (full build: the data's months) -#}
{% macro window_months() -%}
    {%- set window = month_window() -%}
    {%- if window is none -%}
        {{ month_spine(first_data_month(), add_months(last_data_month(), 1)) }}
    {%- else -%}
        {{ month_spine(date_literal(window.start), date_literal(window.end)) }}
    {%- endif -%}
{%- endmacro %}

{#-
  The completed transactions of the months a model computes; the caller's `months` CTE holds
  them (months_to_compute(carry)). While no transaction precedes the window, or the previous
  month is carried, the window's own rows in fct_transaction (built first in the same run) are
  all there is, and re-reading int_completed_transactions, which checks all of raw again, would
  cost seconds per model at scale M. The models name both refs in `-- depends_on:`: this choice is
  made only when executing.
-#}
{% macro transactions_of_computed_months(carry) -%}
    {%- if carry or not transactions_before_window() %}
    select * from {{ ref('fct_transaction') }}
    where {{ month_window_filter('month_start') }}
    {%- else %}
    select * from {{ ref('int_completed_transactions') }}
    where month_start in (select months.month_start from months)
    {%- endif %}
{%- endmacro %}
