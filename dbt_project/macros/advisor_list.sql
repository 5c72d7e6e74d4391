{#-
  An advisor list: for each month of the run's window, the customers of fct_customer_month whose
  streaks meet `criterion`, with who they are and who advises them, then the list's own columns
  (the caller block, expressions on `customer_months`). Every list starts with the same
  customer columns, read the same way, so a new list adds only its criterion and its columns.
-#}
{% macro advisor_list(criterion) -%}
with customer_months as (
    select * from {{ ref('fct_customer_month') }}
    where {{ month_window_filter('month_start') }}
        and ({{ criterion }})
),

customers as (
    select customer_id, firstname, surname, profile from {{ ref('stg_customer') }}
)

select
    cast(customer_months.month_start as date) as month_start,
    cast(customer_months.customer_id as varchar) as customer_id,
    cast(customer_months.advisor_id as varchar) as advisor_id,
    cast(customers.firstname as varchar) as firstname,
    cast(customers.surname as varchar) as surname,
    cast(customers.profile as varchar) as profile,
    {{ caller() | trim }}
from customer_months
left join customers
    on customer_months.customer_id = customers.customer_id
{%- endmacro %}
