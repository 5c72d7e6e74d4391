-- Every transaction of raw.transaction at its latest version, typed, with the reason it cannot be
-- used (NULL when it can): the source's own constraints (positive amount, known category and
-- status, at least one internal side, two different sides, booked exactly when completed and not
-- before it was made) and what it must agree with (accounts that exist, in the transaction's
-- currency, open on its date; neither made nor booked in the future).
-- stg_transaction keeps the good rows; quarantined_rows lists the others.
-- A table, rebuilt by every daily refresh, where the other base_ models are views: the per-key
-- deduplication reads all of raw and no month filter can go through it, so as a view every
-- month's fct_transaction paid it again (0.4 s at scale S, 3.7 s at M, growing with history).
-- Built once here, a month reads only its own rows (0.2 s at M, docs/benchmarks.md). The month
-- jobs read it as the last daily refresh left it, which runs right after each ingestion.
{{ config(materialized='table') }}
with source as (
    select * from {{ source('raw', 'transaction') }}
),

-- a pending transaction is updated when it completes: keep the latest version only
latest as (
    select *
    from source
    qualify row_number() over (partition by transaction_id order by updated_at desc) = 1
),

typed as (
    select
        cast(transaction_id as varchar) as transaction_id,
        cast(sender_account_id as varchar) as sender_account_id,
        cast(receiver_account_id as varchar) as receiver_account_id,
        cast(counterparty as varchar) as counterparty,
        {{ to_utc_timestamp('transaction_date') }} as transaction_date,
        -- a completed transaction counts in the calendar month (UTC) of its booking
        -- (docs/business-definitions.md#booking-month)
        {{ to_utc_timestamp('booked_at') }} as booked_at,
        cast(amount as decimal(12, 2)) as amount,
        trim(cast(currency as varchar)) as currency,
        cast(description as varchar) as description,
        cast(category as varchar) as category,
        cast(status as varchar) as status,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

-- the accounts' owners come along: int_completed_transactions needs them, one join instead of two
accounts as (
    select account_id, customer_id, currency, open_date from {{ ref('stg_account') }}
),

categories as (
    select category from {{ ref('transaction_categories') }}
)

select
    typed.*,
    senders.customer_id as sender_customer_id,
    receivers.customer_id as receiver_customer_id,
    case
        when typed.transaction_id is null then 'missing_key'
        when typed.transaction_date is null then 'missing_transaction_date'
        when typed.amount is null or typed.amount <= 0 then 'amount_not_positive'
        when categories.category is null then 'unknown_category'
        when typed.status is null or typed.status not in ('pending', 'completed', 'failed') then 'unknown_status'
        when typed.status = 'completed' and typed.booked_at is null then 'completed_not_booked'
        when typed.status <> 'completed' and typed.booked_at is not null then 'booked_not_completed'
        when typed.booked_at < typed.transaction_date then 'booked_before_made'
        when typed.sender_account_id is null and typed.receiver_account_id is null then 'no_internal_account'
        when typed.sender_account_id = typed.receiver_account_id then 'sender_is_receiver'
        when
            (typed.sender_account_id is not null and senders.account_id is null)
            or (typed.receiver_account_id is not null and receivers.account_id is null)
            then 'unknown_account'
        when
            typed.currency is null
            or typed.currency <> coalesce(senders.currency, typed.currency)
            or typed.currency <> coalesce(receivers.currency, typed.currency)
            then 'currency_mismatch'
        when
            cast(typed.transaction_date as date) < senders.open_date
            or cast(typed.transaction_date as date) < receivers.open_date
            then 'before_account_opened'
        -- a day's grace: the source's clock and ours may differ by hours, not by days
        when
            typed.transaction_date > {{ to_utc_timestamp('current_timestamp') }} + interval '1 day'
            or typed.booked_at > {{ to_utc_timestamp('current_timestamp') }} + interval '1 day'
            then 'future_dated'
    end as quarantine_reason
from typed
left join categories
    on typed.category = categories.category
left join accounts as senders
    on typed.sender_account_id = senders.account_id
left join accounts as receivers
    on typed.receiver_account_id = receivers.account_id
