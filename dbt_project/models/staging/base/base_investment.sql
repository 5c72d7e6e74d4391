-- Every investment of raw.investment at its latest version, typed, with the reason it cannot be
-- used (NULL when it can). stg_investment keeps the good rows; quarantined_rows lists the others.
with source as (
    select * from {{ source('raw', 'investment') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by investment_id order by updated_at desc) = 1
),

typed as (
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
),

customers as (
    select customer_id from {{ ref('stg_customer') }}
)

select
    typed.*,
    case
        when typed.investment_id is null then 'missing_key'
        when customers.customer_id is null then 'unknown_customer'
        when typed.amount is null or typed.amount <= 0 then 'amount_not_positive'
        when typed.opened_at is null then 'missing_start_date'
        when typed.closed_at < typed.opened_at then 'ends_before_start'
        when typed.product_name is null or typed.product_name not in ('PEA', 'life insurance') then 'unknown_product'
        when typed.status is null or typed.status not in ('active', 'closed') then 'unknown_status'
    end as quarantine_reason
from typed
left join customers
    on typed.customer_id = customers.customer_id
