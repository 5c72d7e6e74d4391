with source as (
    select * from {{ source('raw', 'credit_card') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by card_id order by updated_at desc) = 1
)

select
    cast(card_id as varchar) as card_id,
    cast(customer_id as varchar) as customer_id,
    cast(amount_limit as decimal(12, 2)) as amount_limit,
    -- monthly fee, EUR
    cast(fee as decimal(8, 2)) as fee,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    cast(status as varchar) as status,
    {{ to_utc_timestamp('updated_at') }} as updated_at
from latest
