{#-
  An advisor list: for each month of the run's window, the customers of fct_customer_month whose
  streaks meet `criterion`, with who they are and who advises them, then the list's own columns
  (the caller block, expressions on `customer_months`). Every list starts with the same
  customer columns, read the same way, so a new list adds only its criterion and its columns.
  The customer columns are as at the month's end (docs/business-definitions.md#customers-as-at-month-end):
  a closed month's list shows the profile, advisor and names of then, whenever it is built.
-#}
{% macro advisor_list(criterion) -%}
with customer_months as (
    select * from {{ ref('fct_customer_month') }}
    where {{ month_window_filter('month_start') }}
        and ({{ criterion }})
),

-- the current row: only for a customer the snapshot has not seen yet
customers as (
    select customer_id, firstname, surname, profile from {{ ref('stg_customer') }}
),

history as (
    select customer_id, firstname, surname, profile, valid_from, valid_to
    from {{ ref('int_customer_profile_history') }}
)

select
    cast(customer_months.month_start as date) as month_start,
    cast(customer_months.customer_id as varchar) as customer_id,
    -- fct_customer_month's advisor is already the one at the month's end
    cast(customer_months.advisor_id as varchar) as advisor_id,
    cast(case when history.customer_id is null then customers.firstname else history.firstname end as varchar)
        as firstname,
    cast(case when history.customer_id is null then customers.surname else history.surname end as varchar)
        as surname,
    cast(case when history.customer_id is null then customers.profile else history.profile end as varchar)
        as profile,
    {{ caller() | trim }}
from customer_months
left join customers
    on customer_months.customer_id = customers.customer_id
left join history
    on customer_months.customer_id = history.customer_id
    and {{ customer_at_month_end('history', 'customer_months.month_start') }}
{%- endmacro %}
