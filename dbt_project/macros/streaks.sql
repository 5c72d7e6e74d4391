{#-
  Consecutive-month streaks with gaps and islands, over one row per customer and month:
  `streak_group(flag)` numbers the runs (it grows at every month where the flag is false), then
  `streak_length(flag, group, carried)` counts the flagged months of the run up to each month,
  plus the streak carried from before the computed months when the run started there (group 0).
-#}
{% macro streak_group(flag, partition_by='customer_id', order_by='month_start') -%}
    sum(case when {{ flag }} then 0 else 1 end) over (
        partition by {{ partition_by }} order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}

{% macro streak_length(flag, group_column, carried, partition_by='customer_id', order_by='month_start') -%}
    case
        when {{ flag }} then
            sum(case when {{ flag }} then 1 else 0 end) over (
                partition by {{ partition_by }}, {{ group_column }} order by {{ order_by }}
                rows between unbounded preceding and current row
            )
            + case when {{ group_column }} = 0 then coalesce({{ carried }}, 0) else 0 end
        else 0
    end
{%- endmacro %}
