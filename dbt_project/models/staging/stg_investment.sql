with source as (
    select * from {{ source('raw', 'investment') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by investment_id order by updated_at desc) = 1
)

select
    cast(investment_id as varchar) as investment_id,
    cast(customer_id as varchar) as customer_id,
    cast(product_name as varchar) as product_name,
    cast(amount as decimal(14, 2)) as amount,
    cast(opened_at as date) as opened_at,
    cast(closed_at as date) as closed_at,
    cast(status as varchar) as status,
    {{ to_utc_timestamp('updated_at') }} as updated_at
from latest
