-- Every transaction of raw.transaction at its latest version, typed, with the reason it cannot be
-- used (NULL when it can): the source's own constraints (positive amount, known category and
-- status, at least one internal side, two different sides, booked exactly when completed and not
-- before it was made) and what it must agree with (accounts that exist, in the transaction's
-- currency, open on its date; neither made nor booked in the future).
-- stg_transaction keeps the good rows; quarantined_rows lists the others.
--
-- Incremental, so a refresh costs what changed, not the history (docs/benchmarks.md, "Live"): a run
-- re-checks only
--   - the raw rows updated since the newest version it holds (minus a look-back, for rows that
--     reach raw out of order), and
--   - the rows it holds whose verdict depends on something else that may have changed since:
--     quarantined for an account (unknown, other currency, not open yet) or for a future date, or
--     touching an account that changed.
-- and replaces those keys (delete+insert). Without a previous table (or with --full-refresh) it
-- reads all of raw, with the same result. A change to a seed or to this model needs --full-refresh.
-- depends_on: {{ ref('base_account') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='transaction_id',
    on_schema_change='fail',
    tags=['live'],
) }}
{%- set typed_columns = [
    'transaction_id', 'sender_account_id', 'receiver_account_id', 'counterparty', 'transaction_date',
    'booked_at', 'amount', 'currency', 'description', 'category', 'status', 'created_at', 'updated_at',
] %}
{%- if is_incremental() %}
{%- set newest = "(select max(held.updated_at) from " ~ this ~ " as held)" %}
{%- set since = newest ~ " - interval '" ~ var("staging_lookback_minutes") ~ " minutes'" %}
{%- endif %}

with source as (
    select * from {{ source('raw', 'transaction') }}
    {%- if is_incremental() %}
    -- a row without a key cannot replace its earlier copy: it is taken once, past the mark
    where
        ({{ to_utc_timestamp('updated_at') }} > {{ since }} and transaction_id is not null)
        or {{ to_utc_timestamp('updated_at') }} > {{ newest }}
        or (updated_at is null and transaction_id is not null)
    {%- endif %}
),

-- a pending transaction is updated when it completes: keep the latest version only
latest as (
    {{ latest_version('source', 'transaction_id') }}
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
        -- raw money is FLOAT on Snowflake (Airbyte): the cast rounds the double back to the exact cents
        cast(amount as decimal(12, 2)) as amount,
        trim(cast(currency as varchar)) as currency,
        cast(description as varchar) as description,
        cast(category as varchar) as category,
        cast(status as varchar) as status,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

{%- if is_incremental() %}

changed_accounts as (
    select account_id from {{ ref('base_account') }}
    where updated_at > {{ since }}
),

-- rows held whose verdict may have changed with no change of their own
rechecked as (
    select {{ typed_columns | join(', ') }}
    from {{ this }}
    where
        quarantine_reason in ('unknown_account', 'currency_mismatch', 'before_account_opened', 'future_dated')
        or sender_account_id in (select changed_accounts.account_id from changed_accounts)
        or receiver_account_id in (select changed_accounts.account_id from changed_accounts)
),

candidates as (
    select {{ typed_columns | join(', ') }} from typed
    union all
    select {{ typed_columns | join(', ') }} from rechecked
    where
        rechecked.transaction_id not in (
            select changed.transaction_id from typed as changed
            where changed.transaction_id is not null
        )
),
{%- else %}

candidates as (
    select * from typed
),
{%- endif %}

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
from candidates as typed
left join categories
    on typed.category = categories.category
left join accounts as senders
    on typed.sender_account_id = senders.account_id
left join accounts as receivers
    on typed.receiver_account_id = receivers.account_id
