-- For each month: every customer in the red at the end of that month and of each month before it
-- for at least `alert_streak_months` (3) consecutive months, with their advisor (docs/business-definitions.md).
with customer_months as (
    select * from {{ ref('fct_customer_month') }}
    where {{ month_window_filter('month_start') }}
        and months_in_red >= {{ var('alert_streak_months') }}
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
    cast(customer_months.month_end_balance as decimal(18, 2)) as month_end_balance,
    cast(customer_months.months_in_red as integer) as months_in_red,
    cast(customer_months.withdrawals as decimal(18, 2)) as withdrawals
from customer_months
left join customers
    on customer_months.customer_id = customers.customer_id
