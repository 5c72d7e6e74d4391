-- Customers signed up by each month's last day, counted by the profile they held at the month's
-- end (history from the snapshot; before a customer's first snapshot row, their earliest known
-- profile; a customer the snapshot has not seen yet, their current profile). Every profile
-- appears, with 0 when nobody held it.
with months as (
    {{ window_months() }}
),

customers as (
    select customer_id, signup_date, profile from {{ ref('stg_customer') }}
),

history as (
    select * from {{ ref('int_customer_profile_history') }}
),

customer_months as (
    select
        months.month_start,
        customers.customer_id,
        coalesce(history.profile, customers.profile) as profile
    from months
    inner join customers
        on customers.signup_date < {{ add_months('months.month_start', 1) }}
    left join history
        on customers.customer_id = history.customer_id
        and {{ customer_at_month_end('history', 'months.month_start') }}
),

profiles as (
    select profile, profile_rank from {{ ref('profile_labels') }}
),

counts as (
    select month_start, profile, count(*) as customer_count
    from customer_months
    group by month_start, profile
)

select
    cast(months.month_start as date) as month_start,
    cast(profiles.profile as varchar) as profile,
    cast(profiles.profile_rank as integer) as profile_rank,
    cast(coalesce(counts.customer_count, 0) as bigint) as customer_count
from months
cross join profiles
left join counts
    on months.month_start = counts.month_start
    and profiles.profile = counts.profile
