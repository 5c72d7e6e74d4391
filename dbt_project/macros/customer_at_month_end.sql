{#-
  The customer as at the end of the month starting `month_start`
  (docs/business-definitions.md#customers-as-at-month-end): a join predicate that keeps, of
  int_customer_profile_history aliased `history`, the version in force at the month's last instant
  (valid_from before the next month's first day, valid_to NULL or on or after it). Versions do not
  overlap, so a customer gets at most one version per month; one the snapshot has not seen gets
  none, and the caller shows their current row. One definition, so every month-grain mart shows a
  closed month's customers as they were then, whenever the month is built.
-#}
{% macro customer_at_month_end(history, month_start) -%}
    ({{ history }}.valid_from is null or {{ history }}.valid_from < {{ add_months(month_start, 1) }})
    and ({{ history }}.valid_to is null or {{ history }}.valid_to >= {{ add_months(month_start, 1) }})
{%- endmacro %}
