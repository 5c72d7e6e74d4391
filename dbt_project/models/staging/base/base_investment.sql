-- Every investment of raw.investment at its latest version, typed, with the reason it cannot be
-- used (NULL when it can). stg_investment keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'investment'), 'investment_id') }}
),

typed as (
    select
        cast(investment_id as varchar) as investment_id,
        cast(customer_id as varchar) as customer_id,
        cast(product_name as varchar) as product_name,
        -- raw money is FLOAT on Snowflake (Airbyte): the cast rounds the double back to the exact cents
        cast(amount as decimal(14, 2)) as amount,
        cast(opened_at as date) as opened_at,
        cast(closed_at as date) as closed_at,
        cast(status as varchar) as status,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

{{ product_quarantine(
    key='investment_id',
    start_column='opened_at',
    end_column='closed_at',
    value_checks=[
        ['amount_not_positive', 'typed.amount is null or typed.amount <= 0'],
    ],
    known_values=[
        ['product_name', ['PEA', 'life insurance'], 'unknown_product'],
        ['status', ['active', 'closed'], 'unknown_status'],
    ],
) }}
