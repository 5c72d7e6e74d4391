-- Completed transactions (the only ones that move money), with their booking month (the calendar
-- month of booked_at in UTC, docs/business-definitions.md#booking-month) and the customer on each
-- internal side (stg_transaction brings the owners from its account checks). Complete
-- history: month-grain marts read their window from fct_transaction and fall back to this view
-- for months before it.
with transactions as (
    select * from {{ ref('stg_transaction') }}
    where status = 'completed'
)

select
    transaction_id,
    transaction_date,
    booked_at,
    cast(date_trunc('month', booked_at) as date) as month_start,
    amount,
    currency,
    category,
    description,
    counterparty,
    sender_account_id,
    sender_customer_id,
    receiver_account_id,
    receiver_customer_id,
    -- a transfer between two accounts of the same customer is not a withdrawal (docs/business-definitions.md)
    coalesce(sender_customer_id = receiver_customer_id, false) as is_own_transfer
from transactions
