-- One statement per account and month (docs/business-definitions.md): every account open during the month, with or
-- without transactions, plus any account with transactions or a non-zero balance that month.
-- closing = opening + credits - debits; opening = previous month's closing (accounts open at 0).
--
-- State: when the month before the window is already in this table, its closing balances are
-- the openings (a month's cost does not grow with history). Otherwise (first run, full build,
-- that month never built) every month from the start of the data is computed and only the
-- window is kept. Both paths give the same rows.
-- Its transactions: transactions_of_computed_months (the window's from fct_transaction unless
-- transactions precede the window and nothing is carried: then int_completed_transactions).
-- depends_on: {{ ref('fct_transaction') }}, {{ ref('int_completed_transactions') }}
{%- set carry = previous_month_is_built() %}
{%- set window = month_window() %}

with months as (
    {{ months_to_compute(carry) }}
),

transactions as (
    {{ transactions_of_computed_months(carry) }}
),

sides as (
    {{ transaction_sides('transactions') }}
),

flows as (
    select
        account_id,
        month_start,
        sum(case when direction = 'credit' then amount else 0 end) as total_credits,
        sum(case when direction = 'debit' then amount else 0 end) as total_debits,
        count(*) as transaction_count
    from sides
    group by account_id, month_start
),

-- closing balances of the month before the computed months
carried as (
    {%- if carry %}
    select account_id, closing_balance as balance_before
    from {{ this }}
    where month_start = {{ date_literal(window.previous) }}
    {%- else %}
    select account_id, cast(0 as decimal(18, 2)) as balance_before
    from {{ ref('stg_account') }}
    where 1 = 0
    {%- endif %}
),

accounts as (
    select account_id, customer_id, account_type, currency, open_date, closed_date
    from {{ ref('stg_account') }}
),

-- accounts known to the source, plus any that only appear in transactions or carried balances
-- (a data-quality problem the tests report; their money is still counted)
account_ids as (
    select account_id from accounts
    union
    select account_id from flows
    union
    select account_id from carried
),

account_months as (
    select
        account_ids.account_id,
        months.month_start,
        coalesce(flows.total_credits, 0) as total_credits,
        coalesce(flows.total_debits, 0) as total_debits,
        coalesce(flows.transaction_count, 0) as transaction_count,
        {{ running_balance(
            'coalesce(carried.balance_before, 0)', 'coalesce(flows.total_credits, 0) - coalesce(flows.total_debits, 0)',
            'account_ids.account_id', 'months.month_start') }} as closing_balance
    from account_ids
    cross join months
    left join flows
        on account_ids.account_id = flows.account_id
        and months.month_start = flows.month_start
    left join carried
        on account_ids.account_id = carried.account_id
),

statements as (
    select
        account_months.*,
        account_months.closing_balance - account_months.total_credits + account_months.total_debits
            as opening_balance,
        accounts.customer_id,
        accounts.account_type,
        accounts.currency,
        accounts.open_date,
        accounts.closed_date
    from account_months
    left join accounts
        on account_months.account_id = accounts.account_id
)

select
    cast(account_id as varchar) as account_id,
    cast(customer_id as varchar) as customer_id,
    cast(month_start as date) as month_start,
    cast(account_type as varchar) as account_type,
    cast(currency as varchar) as currency,
    cast(opening_balance as decimal(18, 2)) as opening_balance,
    cast(total_credits as decimal(18, 2)) as total_credits,
    cast(total_debits as decimal(18, 2)) as total_debits,
    cast(closing_balance as decimal(18, 2)) as closing_balance,
    cast(transaction_count as bigint) as transaction_count
from statements
where {{ month_window_filter('month_start') }}
    and (
        {{ active_in_month('open_date', 'closed_date', 'month_start') }}
        or transaction_count > 0
        or opening_balance <> 0
    )
