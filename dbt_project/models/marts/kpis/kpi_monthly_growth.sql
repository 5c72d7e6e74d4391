-- Monthly business KPIs and their month-over-month growth (docs/business-definitions.md):
--   revenue = interest_income + card_fee_income
--   interest_income = sum over loans active in M of amount * interest_rate / 12, rounded once per
--                     month to 4 decimals (1/100 of a cent)
--   card_fee_income = sum over cards active in M of their monthly fee
--   transaction_count / transaction_amount = completed transactions of M, each counted once
--   new_customers = customers whose signup_date falls in M
--   *_growth_pct = 100 * (this - previous) / previous, rounded to 4 decimals; NULL where the
--                  previous month's value is 0 or missing
-- The previous month of the window comes from this table when it is there, otherwise it is
-- computed like the window's months (one extra month, whatever the history length); its
-- transactions are read from int_completed_transactions only when some precede the
-- window (transactions_before_window), else the month had none.
-- depends_on: {{ ref('int_completed_transactions') }}, {{ ref('stg_account') }}
{%- set carry = previous_month_is_built() %}
{%- set history = not carry and transactions_before_window() %}
{%- set window = month_window() %}

with window_months as (
    {{ window_months() }}
),

-- the months whose values are computed here: the window, plus the month before it unless this
-- table already has it
months as (
    select month_start from window_months
    {%- if not carry %}
    union all
    select {{ add_months('min(window_months.month_start)', -1) }} from window_months
    {%- endif %}
),

transactions as (
    select month_start, amount from {{ ref('fct_transaction') }}
    where {{ month_window_filter('month_start') }}
    {%- if history %}
    union all
    select month_start, amount from {{ ref('int_completed_transactions') }}
    where month_start = {{ date_literal(window.previous) }}
    {%- endif %}
),

transaction_totals as (
    select month_start, count(*) as transaction_count, sum(amount) as transaction_amount
    from transactions
    group by month_start
),

products as (
    select * from {{ ref('int_customer_products') }}
    where product_type in ('loan', 'credit_card')
),

revenue as (
    select
        months.month_start,
        -- the exact sum first, one division and one rounding per month
        round(
            sum(case when products.product_type = 'loan' then products.amount * products.interest_rate else 0 end)
            / 12,
            4
        ) as interest_income,
        sum(case when products.product_type = 'credit_card' then products.monthly_fee else 0 end) as card_fee_income
    from months
    inner join products
        on {{ active_in_month('products.start_date', 'products.end_date', 'months.month_start') }}
    group by months.month_start
),

signups as (
    select signup_month as month_start, count(*) as new_customers
    from (
        select cast(date_trunc('month', signup_date) as date) as signup_month
        from {{ ref('stg_customer') }}
    ) as customers
    group by signup_month
),

computed as (
    select
        months.month_start,
        cast(coalesce(revenue.interest_income, 0) as decimal(18, 4)) as interest_income,
        cast(coalesce(revenue.card_fee_income, 0) as decimal(18, 2)) as card_fee_income,
        coalesce(transaction_totals.transaction_count, 0) as transaction_count,
        coalesce(transaction_totals.transaction_amount, 0) as transaction_amount,
        coalesce(signups.new_customers, 0) as new_customers
    from months
    left join revenue on months.month_start = revenue.month_start
    left join transaction_totals on months.month_start = transaction_totals.month_start
    left join signups on months.month_start = signups.month_start
),

with_previous as (
    select
        month_start,
        interest_income + card_fee_income as revenue,
        interest_income,
        card_fee_income,
        transaction_count,
        transaction_amount,
        new_customers
    from computed
    {%- if carry %}
    union all
    select
        month_start,
        revenue,
        interest_income,
        card_fee_income,
        transaction_count,
        transaction_amount,
        new_customers
    from {{ this }}
    where month_start = {{ date_literal(window.previous) }}
    {%- endif %}
),

growth as (
    select
        *,
        lag(revenue) over (order by month_start) as previous_revenue,
        lag(transaction_count) over (order by month_start) as previous_transaction_count,
        lag(new_customers) over (order by month_start) as previous_new_customers,
        lag(month_start) over (order by month_start) as previous_month_start
    from with_previous
)

select
    cast(month_start as date) as month_start,
    cast(revenue as decimal(18, 4)) as revenue,
    cast(interest_income as decimal(18, 4)) as interest_income,
    cast(card_fee_income as decimal(18, 2)) as card_fee_income,
    cast(transaction_count as bigint) as transaction_count,
    cast(transaction_amount as decimal(18, 2)) as transaction_amount,
    cast(new_customers as bigint) as new_customers,
    cast({{ growth_pct('revenue', 'previous_revenue') }} as decimal(18, 4)) as revenue_growth_pct,
    cast({{ growth_pct('transaction_count', 'previous_transaction_count') }} as decimal(18, 4))
        as transaction_count_growth_pct,
    cast({{ growth_pct('new_customers', 'previous_new_customers') }} as decimal(18, 4))
        as new_customers_growth_pct
from growth
-- the month before the window only served as the previous value
where month_start in (select window_months.month_start from window_months)
