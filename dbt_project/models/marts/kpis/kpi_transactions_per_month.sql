-- Count and amount of completed transactions per month and category, each transaction counted
-- once (not once per side). Every known category appears, with zeros when it had none.
with months as (
    {{ window_months() }}
),

transactions as (
    select * from {{ ref('fct_transaction') }}
    where {{ month_window_filter('month_start') }}
),

categories as (
    select category from {{ ref('transaction_categories') }}
    union
    select distinct category from transactions
),

totals as (
    select month_start, category, count(*) as transaction_count, sum(amount) as transaction_amount
    from transactions
    group by month_start, category
)

select
    cast(months.month_start as date) as month_start,
    cast(categories.category as varchar) as category,
    cast(coalesce(totals.transaction_count, 0) as bigint) as transaction_count,
    cast(coalesce(totals.transaction_amount, 0) as decimal(18, 2)) as transaction_amount
from months
cross join categories
left join totals
    on months.month_start = totals.month_start
    and categories.category = totals.category
