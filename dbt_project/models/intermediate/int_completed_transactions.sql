-- Completed transactions (the only ones that move money), with their UTC month and the customer
-- on each internal side. Complete history: month-grain marts read their window from
-- fct_transaction and fall back to this view for months before it.
with transactions as (
    select * from {{ ref('stg_transaction') }}
    where status = 'completed'
),

accounts as (
    select account_id, customer_id from {{ ref('stg_account') }}
)

select
    transactions.transaction_id,
    transactions.transaction_date,
    cast(date_trunc('month', transactions.transaction_date) as date) as month_start,
    transactions.amount,
    transactions.currency,
    transactions.category,
    transactions.description,
    transactions.counterparty,
    transactions.sender_account_id,
    senders.customer_id as sender_customer_id,
    transactions.receiver_account_id,
    receivers.customer_id as receiver_customer_id,
    -- a transfer between two accounts of the same customer is not a withdrawal (DESIGN §5)
    coalesce(senders.customer_id = receivers.customer_id, false) as is_own_transfer
from transactions
left join accounts as senders
    on transactions.sender_account_id = senders.account_id
left join accounts as receivers
    on transactions.receiver_account_id = receivers.account_id
