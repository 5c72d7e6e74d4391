with source as (
    select * from {{ source('raw', 'balance') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by account_id, balance_date order by updated_at desc) = 1
)

select
    cast(account_id as varchar) as account_id,
    cast(balance_date as date) as balance_date,
    cast(balance as decimal(14, 2)) as balance,
    trim(cast(currency as varchar)) as currency,
    {{ to_utc_timestamp('updated_at') }} as updated_at
from latest
