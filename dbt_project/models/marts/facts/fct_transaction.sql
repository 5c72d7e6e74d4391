-- Completed transactions booked in the run's window, one row each (incremental per month): a
-- transaction belongs to its booking month. The other month-grain marts read their window from here.
with transactions as (
    select * from {{ ref('int_completed_transactions') }}
    where {{ month_window_filter('booked_at') }}
)

select
    cast(transaction_id as varchar) as transaction_id,
    cast(transaction_date as timestamp) as transaction_date,
    cast(booked_at as timestamp) as booked_at,
    cast(month_start as date) as month_start,
    cast(amount as decimal(18, 2)) as amount,
    cast(currency as varchar) as currency,
    cast(category as varchar) as category,
    cast(description as varchar) as description,
    cast(counterparty as varchar) as counterparty,
    cast(sender_account_id as varchar) as sender_account_id,
    cast(sender_customer_id as varchar) as sender_customer_id,
    cast(receiver_account_id as varchar) as receiver_account_id,
    cast(receiver_customer_id as varchar) as receiver_customer_id,
    cast(is_own_transfer as boolean) as is_own_transfer
from transactions
