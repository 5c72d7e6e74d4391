-- Every credit card of raw.credit_card at its latest version, typed, with the reason it cannot be
-- used (NULL when it can). stg_credit_card keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'credit_card'), 'card_id') }}
),

typed as (
    select
        cast(card_id as varchar) as card_id,
        cast(customer_id as varchar) as customer_id,
        -- raw money is FLOAT on Snowflake (Airbyte): the casts round the doubles back to the exact cents
        cast(amount_limit as decimal(12, 2)) as amount_limit,
        -- monthly fee, EUR
        cast(fee as decimal(8, 2)) as fee,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(status as varchar) as status,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

{{ product_quarantine(
    key='card_id',
    start_column='start_date',
    end_column='end_date',
    value_checks=[
        ['invalid_fee', 'typed.fee is null or typed.fee < 0'],
    ],
    known_values=[
        ['status', ['active', 'expired'], 'unknown_status'],
    ],
) }}
