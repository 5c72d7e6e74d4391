-- Every loan of raw.loan at its latest version, typed, with the reason it cannot be used (NULL
-- when it can). stg_loan keeps the good rows; quarantined_rows lists the others.
with source as (
    select * from {{ source('raw', 'loan') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by loan_id order by updated_at desc) = 1
),

typed as (
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
),

customers as (
    select customer_id from {{ ref('stg_customer') }}
)

select
    typed.*,
    case
        when typed.loan_id is null then 'missing_key'
        when customers.customer_id is null then 'unknown_customer'
        when typed.amount is null or typed.amount <= 0 then 'amount_not_positive'
        when typed.interest_rate is null or typed.interest_rate < 0 or typed.interest_rate >= 1
            then 'invalid_interest_rate'
        when typed.start_date is null then 'missing_start_date'
        when typed.end_date < typed.start_date then 'ends_before_start'
        when typed.status is null or typed.status not in ('active', 'closed') then 'unknown_status'
    end as quarantine_reason
from typed
left join customers
    on typed.customer_id = customers.customer_id
