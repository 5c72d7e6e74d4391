-- Every month-end balance of raw.balance at its latest version, typed, with the reason it cannot
-- be used (NULL when it can). stg_balance keeps the good rows; quarantined_rows lists the others.
-- A balance that disagrees with the transactions is not quarantined: the check
-- balance_table_agrees reports it (the statements follow the transactions).
with latest as (
    {{ latest_version(source('raw', 'balance'), 'account_id, balance_date') }}
),

typed as (
    select
        cast(account_id as varchar) as account_id,
        cast(balance_date as date) as balance_date,
        -- raw money is FLOAT on Snowflake (Airbyte): the cast rounds the double back to the exact cents
        cast(balance as decimal(14, 2)) as balance,
        trim(cast(currency as varchar)) as currency,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

accounts as (
    select account_id from {{ ref('stg_account') }}
)

select
    typed.*,
    case
        when typed.account_id is null or typed.balance_date is null then 'missing_key'
        when accounts.account_id is null then 'unknown_account'
        when typed.balance is null then 'missing_balance'
    end as quarantine_reason
from typed
left join accounts
    on typed.account_id = accounts.account_id
