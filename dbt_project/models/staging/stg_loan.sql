with source as (
    select * from {{ source('raw', 'loan') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by loan_id order by updated_at desc) = 1
)

select
    cast(loan_id as varchar) as loan_id,
    cast(customer_id as varchar) as customer_id,
    cast(amount as decimal(12, 2)) as amount,
    -- annual rate as a fraction (0.045 = 4.5 %)
    cast(interest_rate as decimal(6, 5)) as interest_rate,
    cast(start_date as date) as start_date,
    cast(end_date as date) as end_date,
    cast(status as varchar) as status,
    {{ to_utc_timestamp('updated_at') }} as updated_at
from latest
