-- For each month: every customer for whom at least one criterion has been high in that month and
-- each month before it, for at least `alert_streak_months` (3) consecutive months (docs/business-definitions.md):
-- withdrawals >= high_withdrawals_threshold, loans outstanding >= high_loans_threshold,
-- investments held >= high_investments_threshold. The *_months columns are the streaks.
with customer_months as (
    select * from {{ ref('fct_customer_month') }}
    where {{ month_window_filter('month_start') }}
        and (
            high_withdrawals_months >= {{ var('alert_streak_months') }}
            or high_loans_months >= {{ var('alert_streak_months') }}
            or high_investments_months >= {{ var('alert_streak_months') }}
        )
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
    cast(customer_months.high_withdrawals_months as integer) as high_withdrawals_months,
    cast(customer_months.high_loans_months as integer) as high_loans_months,
    cast(customer_months.high_investments_months as integer) as high_investments_months,
    cast(customer_months.withdrawals as decimal(18, 2)) as withdrawals,
    cast(customer_months.loans_outstanding as decimal(18, 2)) as loans_outstanding,
    cast(customer_months.investments_held as decimal(18, 2)) as investments_held,
    cast(customer_months.month_end_balance as decimal(18, 2)) as month_end_balance
from customer_months
left join customers
    on customer_months.customer_id = customers.customer_id
