-- Every product a customer holds, one row each: loans (amount = principal), investments (amount
-- invested) and credit cards (amount = spending limit), with the monthly revenue terms.
with loans as (
    select * from {{ ref('stg_loan') }}
),

investments as (
    select * from {{ ref('stg_investment') }}
),

cards as (
    select * from {{ ref('stg_credit_card') }}
)

select
    loan_id as product_id,
    customer_id,
    'loan' as product_type,
    'loan' as product_name,
    cast(amount as decimal(14, 2)) as amount,
    interest_rate,
    cast(null as decimal(8, 2)) as monthly_fee,
    start_date,
    end_date,
    status
from loans

union all

select
    investment_id as product_id,
    customer_id,
    'investment' as product_type,
    product_name,
    amount,
    cast(null as decimal(6, 5)) as interest_rate,
    cast(null as decimal(8, 2)) as monthly_fee,
    opened_at as start_date,
    closed_at as end_date,
    status
from investments

union all

select
    card_id as product_id,
    customer_id,
    'credit_card' as product_type,
    'credit card' as product_name,
    cast(amount_limit as decimal(14, 2)) as amount,
    cast(null as decimal(6, 5)) as interest_rate,
    fee as monthly_fee,
    start_date,
    end_date,
    status
from cards
