{#-
  Incremental strategy `month_window` (config incremental_strategy='month_window'): replace the
  run's month window in the target, in one transaction. Rows of the window are deleted first, so
  a month that became empty ends with no rows; rows outside the window are never written, so a
  month re-runs alone and idempotently. Without the vars the window is every month: the run
  replaces the whole table.
-#}
{% macro get_incremental_month_window_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ month_window_filter('month_start') }};

    insert into {{ target }} ({{ columns_csv }})
    select {{ columns_csv }}
    from {{ arg_dict['temp_relation'] }}
    where {{ month_window_filter('month_start') }}
{%- endmacro %}
