{#-
  A balance after each row of a sequence: `start` plus every `flow` up to and including the row,
  within `partition_by`, in `order_by` order. The statements, the customers' month-end balances and
  the statement lines all accumulate this way, so a closing balance, the customer's balance and the
  last line's running balance agree by construction (the tests check they do).
-#}
{% macro running_balance(start, flow, partition_by, order_by) -%}
    {{ start }} + sum({{ flow }}) over (
        partition by {{ partition_by }}
        order by {{ order_by }}
        rows between unbounded preceding and current row
    )
{%- endmacro %}
