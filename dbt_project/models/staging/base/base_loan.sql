-- Every loan of raw.loan at its latest version, typed, with the reason it cannot be used (NULL
-- when it can). stg_loan keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'loan'), 'loan_id') }}
),

typed as (
    select
        cast(loan_id as varchar) as loan_id,
        cast(customer_id as varchar) as customer_id,
        -- raw numbers are FLOAT on Snowflake (Airbyte): the casts round them back to the source's exact values
        cast(amount as decimal(12, 2)) as amount,
        -- annual rate as a fraction (0.045 = 4.5 %)
        cast(interest_rate as decimal(6, 5)) as interest_rate,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(status as varchar) as status,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
),

{{ product_quarantine(
    key='loan_id',
    start_column='start_date',
    end_column='end_date',
    value_checks=[
        ['amount_not_positive', 'typed.amount is null or typed.amount <= 0'],
        ['invalid_interest_rate',
            'typed.interest_rate is null or typed.interest_rate < 0 or typed.interest_rate >= 1'],
    ],
    known_values=[
        ['status', ['active', 'closed'], 'unknown_status'],
    ],
) }}
