-- Activity per booking day (UTC) and category, from the last var('intraday_history_days') days to
-- today (docs/business-definitions.md#intraday): completed transactions, each counted once, as
-- kpi_transactions_per_month counts them per month. The Today view compares today with the same
-- weekday's average over these weeks. Rebuilt by every live cycle; it reads those days only.
{%- set today = "cast(" ~ to_utc_timestamp('current_timestamp') ~ " as date)" %}

with transactions as (
    select booked_at, category, amount
    from {{ ref('int_completed_transactions') }}
    where booked_at >= {{ dbt.dateadd('day', -var('intraday_history_days'), today) }}
)

select
    cast(booked_at as date) as activity_date,
    cast(category as varchar) as category,
    cast(count(*) as bigint) as transaction_count,
    cast(sum(amount) as decimal(18, 2)) as transaction_amount,
    {{ to_utc_timestamp('current_timestamp') }} as as_of
from transactions
group by cast(booked_at as date), category
