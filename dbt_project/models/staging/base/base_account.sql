-- Every account of raw.account at its latest version, typed, with the reason it cannot be used
-- (NULL when it can). stg_account keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'account'), 'account_id') }}
),

typed as (
    select
        cast(account_id as varchar) as account_id,
        cast(customer_id as varchar) as customer_id,
        cast(account_type as varchar) as account_type,
        -- char(3) may arrive padded
        trim(cast(currency as varchar)) as currency,
        cast(open_date as date) as open_date,
        cast(closed_date as date) as closed_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

customers as (
    select customer_id from {{ ref('stg_customer') }}
),

account_types as (
    select account_type from {{ ref('account_types') }}
)

select
    typed.*,
    case
        when typed.account_id is null then 'missing_key'
        when customers.customer_id is null then 'unknown_customer'
        when account_types.account_type is null then 'unknown_account_type'
        when typed.currency is null then 'missing_currency'
        when typed.open_date is null then 'missing_open_date'
        when typed.closed_date < typed.open_date then 'closed_before_opened'
    end as quarantine_reason
from typed
left join customers
    on typed.customer_id = customers.customer_id
left join account_types
    on typed.account_type = account_types.account_type
