with source as (
    select * from {{ source('raw', 'transaction') }}
),

-- a pending transaction is updated when it completes: keep the latest version only
latest as (
    select *
    from source
    qualify row_number() over (partition by transaction_id order by updated_at desc) = 1
)

select
    cast(transaction_id as varchar) as transaction_id,
    cast(sender_account_id as varchar) as sender_account_id,
    cast(receiver_account_id as varchar) as receiver_account_id,
    cast(counterparty as varchar) as counterparty,
    -- the month of a transaction is the calendar month of its date in UTC
    {{ to_utc_timestamp('transaction_date') }} as transaction_date,
    cast(amount as decimal(12, 2)) as amount,
    trim(cast(currency as varchar)) as currency,
    cast(description as varchar) as description,
    cast(category as varchar) as category,
    cast(status as varchar) as status,
    {{ to_utc_timestamp('created_at') }} as created_at,
    {{ to_utc_timestamp('updated_at') }} as updated_at
from latest
