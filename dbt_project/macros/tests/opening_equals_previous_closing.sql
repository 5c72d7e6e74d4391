{#-
  Month-to-month continuity of a balance: for every key, `opening_column` in month M equals
  `closing_column` in M-1 (0 when there was no row), and no non-zero balance disappears. Checks
  the run's window against the month before it, only where that month is in the table (the first
  month of the history, or a first partition, has nothing to compare with).
-#}
{% test opening_equals_previous_closing(model, key, opening_column='opening_balance', closing_column='closing_balance') %}
    with {{ window_and_previous_months(model) }},

    compared as (
        select
            coalesce(cur.{{ key }}, prev.{{ key }}) as {{ key }},
            coalesce(cur.month_start, {{ add_months('prev.month_start', 1) }}) as month_start,
            coalesce(prev.{{ closing_column }}, 0) as previous_closing,
            coalesce(cur.{{ opening_column }}, 0) as opening
        from current_months as cur
        full outer join previous_months as prev
            on cur.{{ key }} = prev.{{ key }}
            and cur.month_start = {{ add_months('prev.month_start', 1) }}
    )

    select compared.*
    from compared
    inner join built_previous
        on built_previous.previous_month = {{ add_months('compared.month_start', -1) }}
    where compared.previous_closing <> compared.opening
        and compared.month_start in (select month_start from current_months)
{% endtest %}
