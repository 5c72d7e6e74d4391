-- One row per customer signed up by the month's last day, per month (docs/business-definitions.md): month-end
-- balance (sum of the closing balances of all their accounts), withdrawals (debits excluding
-- transfers between two of their own accounts), loans outstanding and investments held (products
-- active in the month), and the streaks the advisor lists need (consecutive months ending in this
-- one: in the red, high withdrawals / loans / investments). advisor_id is the advisor at the
-- month's end (docs/business-definitions.md#customers-as-at-month-end): a reassignment today changes
-- no closed month, whenever it is built.
--
-- State: when the month before the window is in this table, its streak lengths continue, and the
-- balance continues from the window's opening balances in fct_monthly_statement. Otherwise every
-- month from the start of the data is computed and only the window is kept. Same rows either way.
-- Its transactions: transactions_of_computed_months (the window's from fct_transaction unless
-- transactions precede the window and nothing is carried: then int_completed_transactions).
-- depends_on: {{ ref('fct_transaction') }}, {{ ref('int_completed_transactions') }}, {{ ref('fct_monthly_statement') }}
{%- set carry = previous_month_is_built() %}
{%- set window = month_window() %}

with months as (
    {{ months_to_compute(carry) }}
),

customers as (
    select customer_id, signup_date, advisor_id from {{ ref('stg_customer') }}
),

history as (
    select customer_id, advisor_id, valid_from, valid_to from {{ ref('int_customer_profile_history') }}
),

transactions as (
    {{ transactions_of_computed_months(carry) }}
),

sides as (
    {{ transaction_sides('transactions') }}
),

flows as (
    select
        customer_id,
        month_start,
        sum(case when direction = 'credit' then amount else 0 end) as total_credits,
        sum(case when direction = 'debit' then amount else 0 end) as total_debits,
        sum(case when direction = 'debit' and not is_own_transfer then amount else 0 end) as withdrawals,
        sum(signed_amount) as net_flow,
        count(*) as transaction_count
    from sides
    group by customer_id, month_start
),

products as (
    select
        products.customer_id,
        months.month_start,
        sum(case when products.product_type = 'loan' then products.amount else 0 end) as loans_outstanding,
        sum(case when products.product_type = 'investment' then products.amount else 0 end) as investments_held
    from {{ ref('int_customer_products') }} as products
    inner join months
        on {{ active_in_month('products.start_date', 'products.end_date', 'months.month_start') }}
    where products.product_type in ('loan', 'investment')
    group by products.customer_id, months.month_start
),

-- what the month before the computed months carries forward
carried as (
    {%- if carry %}
    select
        coalesce(previous.customer_id, opening.customer_id) as customer_id,
        opening.balance_before,
        previous.months_in_red,
        previous.high_withdrawals_months,
        previous.high_loans_months,
        previous.high_investments_months
    from (
        select * from {{ this }}
        where month_start = {{ date_literal(window.previous) }}
    ) as previous
    full outer join (
        -- the balance continues from the accounts' opening balances of the window's first month
        select customer_id, sum(opening_balance) as balance_before
        from {{ ref('fct_monthly_statement') }}
        where month_start = {{ date_literal(window.start) }}
        group by customer_id
    ) as opening
        on previous.customer_id = opening.customer_id
    {%- else %}
    select
        customer_id,
        cast(0 as decimal(18, 2)) as balance_before,
        0 as months_in_red,
        0 as high_withdrawals_months,
        0 as high_loans_months,
        0 as high_investments_months
    from customers
    where 1 = 0
    {%- endif %}
),

customer_months as (
    select
        customers.customer_id,
        -- the current row only for a customer the snapshot has not seen yet
        case when history.customer_id is null then customers.advisor_id else history.advisor_id end as advisor_id,
        months.month_start,
        customers.signup_date < {{ add_months('months.month_start', 1) }} as is_signed_up,
        coalesce(flows.total_credits, 0) as total_credits,
        coalesce(flows.total_debits, 0) as total_debits,
        coalesce(flows.withdrawals, 0) as withdrawals,
        coalesce(flows.transaction_count, 0) as transaction_count,
        coalesce(products.loans_outstanding, 0) as loans_outstanding,
        coalesce(products.investments_held, 0) as investments_held,
        {{ running_balance(
            'coalesce(carried.balance_before, 0)', 'coalesce(flows.net_flow, 0)',
            'customers.customer_id', 'months.month_start') }} as month_end_balance,
        carried.months_in_red as carried_months_in_red,
        carried.high_withdrawals_months as carried_high_withdrawals_months,
        carried.high_loans_months as carried_high_loans_months,
        carried.high_investments_months as carried_high_investments_months
    from customers
    cross join months
    left join flows
        on customers.customer_id = flows.customer_id
        and months.month_start = flows.month_start
    left join products
        on customers.customer_id = products.customer_id
        and months.month_start = products.month_start
    left join carried
        on customers.customer_id = carried.customer_id
    left join history
        on customers.customer_id = history.customer_id
        and {{ customer_at_month_end('history', 'months.month_start') }}
),

-- a month only counts towards a streak once the customer has signed up
flagged as (
    select
        *,
        is_signed_up and month_end_balance < 0 as is_in_red,
        is_signed_up and withdrawals >= {{ var('high_withdrawals_threshold') }} as is_high_withdrawals,
        is_signed_up and loans_outstanding >= {{ var('high_loans_threshold') }} as is_high_loans,
        is_signed_up and investments_held >= {{ var('high_investments_threshold') }} as is_high_investments
    from customer_months
),

streak_groups as (
    select
        *,
        {{ streak_group('is_in_red') }} as red_group,
        {{ streak_group('is_high_withdrawals') }} as withdrawals_group,
        {{ streak_group('is_high_loans') }} as loans_group,
        {{ streak_group('is_high_investments') }} as investments_group
    from flagged
),

streaks as (
    select
        *,
        {{ streak_length('is_in_red', 'red_group', 'carried_months_in_red') }} as months_in_red,
        {{ streak_length('is_high_withdrawals', 'withdrawals_group', 'carried_high_withdrawals_months') }}
            as high_withdrawals_months,
        {{ streak_length('is_high_loans', 'loans_group', 'carried_high_loans_months') }} as high_loans_months,
        {{ streak_length('is_high_investments', 'investments_group', 'carried_high_investments_months') }}
            as high_investments_months
    from streak_groups
)

select
    cast(customer_id as varchar) as customer_id,
    cast(month_start as date) as month_start,
    cast(advisor_id as varchar) as advisor_id,
    cast(month_end_balance as decimal(18, 2)) as month_end_balance,
    cast(total_credits as decimal(18, 2)) as total_credits,
    cast(total_debits as decimal(18, 2)) as total_debits,
    cast(withdrawals as decimal(18, 2)) as withdrawals,
    cast(transaction_count as bigint) as transaction_count,
    cast(loans_outstanding as decimal(18, 2)) as loans_outstanding,
    cast(investments_held as decimal(18, 2)) as investments_held,
    cast(is_in_red as boolean) as is_in_red,
    cast(is_high_withdrawals as boolean) as is_high_withdrawals,
    cast(is_high_loans as boolean) as is_high_loans,
    cast(is_high_investments as boolean) as is_high_investments,
    cast(months_in_red as integer) as months_in_red,
    cast(high_withdrawals_months as integer) as high_withdrawals_months,
    cast(high_loans_months as integer) as high_loans_months,
    cast(high_investments_months as integer) as high_investments_months
from streaks
where {{ month_window_filter('month_start') }}
    and is_signed_up
