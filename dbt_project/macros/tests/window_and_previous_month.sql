{#-
  The CTEs a continuity test compares (opening_equals_previous_closing, streak_continues):
  `current_months`, the run's window of `model`; `previous_months`, the month before each of them,
  read with a literal range so the scan skips the other months; `built_previous`, those previous
  months that are in the table. A month is only compared where its previous month was built: the
  first month of the history, or a first partition, has nothing to continue from.
-#}
{% macro window_and_previous_months(model) -%}
    current_months as (
        select * from {{ model }}
        where {{ month_window_filter('month_start') }}
    ),

    previous_months as (
        select * from {{ model }}
        where {{ month_window_and_previous_filter('month_start') }}
            and month_start in (select {{ add_months('month_start', -1) }} from current_months)
    ),

    built_previous as (
        select distinct month_start as previous_month from previous_months
    )
{%- endmacro %}
