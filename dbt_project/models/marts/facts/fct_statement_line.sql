-- One line per completed transaction and internal side of the window: a transfer between two of
-- our accounts is a debit line on the sender's statement and a credit line on the receiver's.
-- Lines are in booking order, (booked_at, transaction_id), as a bank prints them; each shows when
-- the transaction was made and when it was booked. running_balance starts from the statement's
-- opening balance and ends at its closing balance.
with transactions as (
    select * from {{ ref('fct_transaction') }}
    where {{ month_window_filter('month_start') }}
),

sides as (
    {{ transaction_sides('transactions') }}
),

statements as (
    select account_id, month_start, opening_balance
    from {{ ref('fct_monthly_statement') }}
    where {{ month_window_filter('month_start') }}
),

lines as (
    select
        sides.*,
        row_number() over (
            partition by sides.account_id, sides.month_start
            order by sides.booked_at, sides.transaction_id
        ) as line_number,
        {{ running_balance(
            'statements.opening_balance', 'sides.signed_amount',
            'sides.account_id, sides.month_start', 'sides.booked_at, sides.transaction_id') }} as running_balance
    from sides
    left join statements
        on sides.account_id = statements.account_id
        and sides.month_start = statements.month_start
)

select
    cast(account_id as varchar) as account_id,
    cast(customer_id as varchar) as customer_id,
    cast(month_start as date) as month_start,
    cast(line_number as bigint) as line_number,
    cast(transaction_id as varchar) as transaction_id,
    cast(transaction_date as timestamp) as transaction_date,
    cast(booked_at as timestamp) as booked_at,
    cast(description as varchar) as description,
    cast(category as varchar) as category,
    cast(direction as varchar) as direction,
    cast(amount as decimal(18, 2)) as amount,
    cast(signed_amount as decimal(18, 2)) as signed_amount,
    cast(running_balance as decimal(18, 2)) as running_balance,
    cast(counterparty_account_id as varchar) as counterparty_account_id,
    cast(counterparty as varchar) as counterparty,
    cast(is_own_transfer as boolean) as is_own_transfer
from lines
