-- What each customer brings the bank in a month (docs/business-definitions.md#customer-value), one
-- row per customer signed up by the month's last day (the rows of fct_customer_month), all zero for
-- one who holds nothing:
--   deposit_margin     = Σ accounts, positive closing balance × (funds-transfer rate − rate paid) / 12
--                        (rate paid: value_current_account_rate for current accounts, the
--                        regulated_savings_rates seed in force on the month's first day for LA / LJ)
--   overdraft_interest = Σ accounts, −(negative closing balance) × value_overdraft_rate / 12
--   loan_margin        = Σ loans active in M, amount × (interest_rate − value_loan_funding_rate) / 12
--   card_income        = Σ cards active in M, monthly fee + value_card_interchange_rate × card
--                        payments (completed, category card_payment, sent from the customer's accounts)
--   investment_fees    = Σ investments active in M, amount × fee rate of the product (PEA, life
--                        insurance) / 12
--   cost_to_serve      = open accounts × value_cost_per_account + transaction sides (statement lines)
--                        × value_cost_per_transaction + cash withdrawals × value_cost_per_withdrawal
--   contribution       = the five incomes − cost_to_serve
-- Each part is the exact sum of its terms rounded once to the cent (half away from zero), and the
-- contribution is the sum of the rounded parts, so the parts add up to it exactly.
-- contribution_12m sums the contributions of the twelve months ending in M that the warehouse holds
-- (fct_customer_month's months: those since the customer signed up, and since the first monthly
-- partition). They are recomputed here from the facts with today's rates, never read back from this
-- table, so every figure of a row follows its definition_version and a month is the same whenever
-- it is built.
-- depends_on: {{ ref('fct_customer_month') }}
{%- set window = month_window() %}
{%- set window_start = date_literal(window.start) if window is not none else none %}
{%- set window_end = date_literal(window.end) if window is not none else none %}

with customer_months as (
    select
        customer_id,
        month_start,
        advisor_id,
        loans_outstanding,
        investments_held,
        transaction_count
    from {{ ref('fct_customer_month') }}
    {%- if window is not none %}
    -- the window and the eleven months before it (contribution_12m)
    where month_start >= {{ add_months(window_start, -11) }}
        and month_start < {{ window_end }}
    {%- endif %}
),

months as (
    select distinct month_start from customer_months
),

statements as (
    select customer_id, account_id, month_start, account_type, closing_balance
    from {{ ref('fct_monthly_statement') }}
    where month_start in (select months.month_start from months)
        and customer_id is not null
),

accounts as (
    select account_id, open_date, closed_date from {{ ref('stg_account') }}
),

regulated_rates as (
    select
        account_type,
        valid_from,
        annual_rate,
        lead(valid_from) over (partition by account_type order by valid_from) as valid_to
    from {{ ref('regulated_savings_rates') }}
),

-- per account: its part of the deposit margin and of the overdraft interest, times 12 (the exact
-- annual amounts; divided once per customer-month below), and whether it was open in the month
account_months as (
    select
        statements.customer_id,
        statements.month_start,
        case
            when statements.closing_balance > 0
                then statements.closing_balance * (
                        {{ value_var('value_funds_transfer_rate') }}
                        - case
                            when statements.account_type in ('LA', 'LJ') then coalesce(regulated_rates.annual_rate, 0)
                            else {{ value_var('value_current_account_rate') }}
                        end
                    )
            else 0
        end as deposit_margin_annual,
        case
            when statements.closing_balance < 0
                then -statements.closing_balance * {{ value_var('value_overdraft_rate') }}
            else 0
        end as overdraft_interest_annual,
        case when statements.closing_balance > 0 then statements.closing_balance else 0 end as deposits,
        case when statements.closing_balance < 0 then -statements.closing_balance else 0 end as overdrawn,
        case
            when {{ active_in_month('accounts.open_date', 'accounts.closed_date', 'statements.month_start') }}
                then 1
            else 0
        end as is_open
    from statements
    left join accounts
        on statements.account_id = accounts.account_id
    left join regulated_rates
        on statements.account_type = regulated_rates.account_type
        and statements.month_start >= regulated_rates.valid_from
        and (regulated_rates.valid_to is null or statements.month_start < regulated_rates.valid_to)
),

account_totals as (
    select
        customer_id,
        month_start,
        sum(deposit_margin_annual) as deposit_margin_annual,
        sum(overdraft_interest_annual) as overdraft_interest_annual,
        sum(deposits) as deposits,
        sum(overdrawn) as overdrawn,
        sum(is_open) as open_accounts
    from account_months
    group by customer_id, month_start
),

products as (
    select * from {{ ref('int_customer_products') }}
),

product_totals as (
    select
        products.customer_id,
        months.month_start,
        sum(
            case
                when products.product_type = 'loan'
                    then products.amount * (products.interest_rate - {{ value_var('value_loan_funding_rate') }})
                else 0
            end
        ) as loan_margin_annual,
        sum(
            case
                when products.product_type = 'investment' and products.product_name = 'PEA'
                    then products.amount * {{ value_var('value_pea_fee_rate') }}
                when products.product_type = 'investment' and products.product_name = 'life insurance'
                    then products.amount * {{ value_var('value_life_insurance_fee_rate') }}
                else 0
            end
        ) as investment_fees_annual,
        sum(case when products.product_type = 'credit_card' then products.monthly_fee else 0 end) as card_fees
    from products
    inner join months
        on {{ active_in_month('products.start_date', 'products.end_date', 'months.month_start') }}
    group by products.customer_id, months.month_start
),

-- card payments and cash withdrawals sent from the customer's accounts, in their booking month
payments as (
    select
        sender_customer_id as customer_id,
        month_start,
        sum(case when category = 'card_payment' then amount else 0 end) as card_payments,
        sum(case when category = 'withdrawal' then 1 else 0 end) as cash_withdrawals
    from {{ ref('fct_transaction') }}
    where month_start in (select months.month_start from months)
        and sender_customer_id is not null
        and category in ('card_payment', 'withdrawal')
    group by sender_customer_id, month_start
),

bases as (
    select
        customer_months.customer_id,
        customer_months.month_start,
        customer_months.advisor_id,
        customer_months.loans_outstanding,
        customer_months.investments_held,
        customer_months.transaction_count as transaction_sides,
        coalesce(account_totals.deposits, 0) as deposits,
        coalesce(account_totals.overdrawn, 0) as overdrawn,
        coalesce(account_totals.open_accounts, 0) as open_accounts,
        coalesce(payments.card_payments, 0) as card_payments,
        coalesce(payments.cash_withdrawals, 0) as cash_withdrawals,
        coalesce(product_totals.card_fees, 0) as card_fees,
        coalesce(account_totals.deposit_margin_annual, 0) as deposit_margin_annual,
        coalesce(account_totals.overdraft_interest_annual, 0) as overdraft_interest_annual,
        coalesce(product_totals.loan_margin_annual, 0) as loan_margin_annual,
        coalesce(product_totals.investment_fees_annual, 0) as investment_fees_annual
    from customer_months
    left join account_totals
        on customer_months.customer_id = account_totals.customer_id
        and customer_months.month_start = account_totals.month_start
    left join product_totals
        on customer_months.customer_id = product_totals.customer_id
        and customer_months.month_start = product_totals.month_start
    left join payments
        on customer_months.customer_id = payments.customer_id
        and customer_months.month_start = payments.month_start
),

-- every part rounded once to the cent
parts as (
    select
        *,
        {{ divide_to_cents('deposit_margin_annual', 12) }} as deposit_margin,
        {{ divide_to_cents('overdraft_interest_annual', 12) }} as overdraft_interest,
        {{ divide_to_cents('loan_margin_annual', 12) }} as loan_margin,
        cast(round(card_fees + card_payments * {{ value_var('value_card_interchange_rate') }}, 2) as decimal(18, 2))
            as card_income,
        {{ divide_to_cents('investment_fees_annual', 12) }} as investment_fees,
        cast(
            round(
                open_accounts * {{ value_var('value_cost_per_account') }}
                + transaction_sides * {{ value_var('value_cost_per_transaction') }}
                + cash_withdrawals * {{ value_var('value_cost_per_withdrawal') }},
                2
            ) as decimal(18, 2)
        ) as cost_to_serve
    from bases
),

contributions as (
    select
        *,
        cast(
            deposit_margin + overdraft_interest + loan_margin + card_income + investment_fees - cost_to_serve
            as decimal(18, 2)
        ) as contribution
    from parts
),

-- the twelve months ending in each month, of those held (a customer's months start at sign-up)
trailing_year as (
    select
        current_month.customer_id,
        current_month.month_start,
        sum(earlier.contribution) as contribution_12m,
        count(*) as months_in_12m
    from contributions as current_month
    inner join contributions as earlier
        on current_month.customer_id = earlier.customer_id
        and current_month.month_start >= earlier.month_start
        and earlier.month_start > {{ add_months('current_month.month_start', -12) }}
    {%- if window is not none %}
    where current_month.month_start >= {{ window_start }}
    {%- endif %}
    group by current_month.customer_id, current_month.month_start
),

customers as (
    select customer_id, profile from {{ ref('stg_customer') }}
),

history as (
    select customer_id, profile, valid_from, valid_to from {{ ref('int_customer_profile_history') }}
),

-- the part of largest absolute value; ties go to the first in this order
driven as (
    select
        *,
        case
            when
                deposit_margin = 0 and overdraft_interest = 0 and loan_margin = 0 and card_income = 0
                and investment_fees = 0 and cost_to_serve = 0
                then 'none'
            when
                abs(loan_margin) >= greatest(
                    abs(deposit_margin), abs(overdraft_interest), abs(card_income), abs(investment_fees), cost_to_serve
                )
                then 'loan margin'
            when
                abs(deposit_margin) >= greatest(
                    abs(overdraft_interest), abs(card_income), abs(investment_fees), cost_to_serve
                )
                then 'deposit margin'
            when abs(investment_fees) >= greatest(abs(overdraft_interest), abs(card_income), cost_to_serve)
                then 'investment fees'
            when abs(card_income) >= greatest(abs(overdraft_interest), cost_to_serve) then 'card income'
            when abs(overdraft_interest) >= cost_to_serve then 'overdraft interest'
            else 'cost to serve'
        end as main_driver
    from contributions
),

valued as (
    select
        driven.*,
        trailing_year.contribution_12m,
        trailing_year.months_in_12m,
        -- the profile at the month's end; the current row only for a customer the snapshot has not seen
        case when history.customer_id is null then customers.profile else history.profile end as profile
    from driven
    inner join trailing_year
        on driven.customer_id = trailing_year.customer_id
        and driven.month_start = trailing_year.month_start
    left join customers
        on driven.customer_id = customers.customer_id
    left join history
        on driven.customer_id = history.customer_id
        and {{ customer_at_month_end('history', 'driven.month_start') }}
)

select
    cast(customer_id as varchar) as customer_id,
    cast(month_start as date) as month_start,
    cast(advisor_id as varchar) as advisor_id,
    cast(profile as varchar) as profile,
    cast(deposit_margin as decimal(18, 2)) as deposit_margin,
    cast(overdraft_interest as decimal(18, 2)) as overdraft_interest,
    cast(loan_margin as decimal(18, 2)) as loan_margin,
    cast(card_income as decimal(18, 2)) as card_income,
    cast(investment_fees as decimal(18, 2)) as investment_fees,
    cast(cost_to_serve as decimal(18, 2)) as cost_to_serve,
    cast(contribution as decimal(18, 2)) as contribution,
    cast(contribution_12m as decimal(18, 2)) as contribution_12m,
    cast(months_in_12m as integer) as months_in_12m,
    cast({{ value_tier('contribution_12m') }} as varchar) as value_tier,
    cast({{ value_tier_rank(value_tier('contribution_12m')) }} as integer) as value_tier_rank,
    cast(main_driver as varchar) as main_driver,
    cast(deposits as decimal(18, 2)) as deposits,
    cast(overdrawn as decimal(18, 2)) as overdrawn,
    cast(loans_outstanding as decimal(18, 2)) as loans_outstanding,
    cast(investments_held as decimal(18, 2)) as investments_held,
    cast(card_fees as decimal(18, 2)) as card_fees,
    cast(card_payments as decimal(18, 2)) as card_payments,
    cast(open_accounts as integer) as open_accounts,
    cast(transaction_sides as bigint) as transaction_sides,
    cast(cash_withdrawals as bigint) as cash_withdrawals,
    cast({{ definition_version(ref('regulated_savings_rates')) }} as varchar) as definition_version
from valued
where {{ month_window_filter('month_start') }}
