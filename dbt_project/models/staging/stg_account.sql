with source as (
    select * from {{ source('raw', 'account') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by account_id order by updated_at desc) = 1
)

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
