{#-
  A streak column counts consecutive months: in each month of the run's window it is 0 or the
  previous month's value + 1 (the previous month read from the table when it is there; a key
  without a row then had a streak of 0).
-#}
{% test streak_continues(model, key, streak_column) %}
    with {{ window_and_previous_months(model) }}

    select cur.{{ key }}, cur.month_start, cur.{{ streak_column }}, prev.{{ streak_column }} as previous_streak
    from current_months as cur
    inner join built_previous
        on built_previous.previous_month = {{ add_months('cur.month_start', -1) }}
    left join previous_months as prev
        on cur.{{ key }} = prev.{{ key }}
        and prev.month_start = built_previous.previous_month
    where cur.{{ streak_column }} <> 0
        and cur.{{ streak_column }} <> coalesce(prev.{{ streak_column }}, 0) + 1
{% endtest %}
