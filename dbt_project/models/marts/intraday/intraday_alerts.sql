-- Events an advisor should act on today (docs/business-definitions.md#intraday), one row each,
-- recorded once by the first live cycle that sees them and never rewritten (an alert is a record
-- of what was signalled, like an issued statement):
--   went_into_red     a booking takes the customer's balance (all accounts) from >= 0 to < 0;
--   large_withdrawal  a single debit of at least var('large_withdrawal_threshold') EUR
--                     (a transfer between two of the customer's own accounts is not one).
-- The balance continues from the newest month-end balance in fct_customer_month, so a cycle reads
-- the bookings of the open month(s) only, whatever the history.
{#- tmp_relation_type: Snowflake stages new rows in a temporary table rather than a view (the
    emulator in the tests runs no temporary view); DuckDB ignores it -#}
{{ config(
    materialized='incremental', incremental_strategy='append', on_schema_change='fail',
    tmp_relation_type='table', tags=['live'],
) }}

{#- before the first month is built (the first refresh of a new warehouse) there is no month-end
    balance to continue from: the balance runs from the first booking, and only this month's
    bookings raise alerts -#}
{%- set month_ends = load_relation(ref('fct_customer_month')) %}
{%- set this_month = "cast(date_trunc('month', " ~ to_utc_timestamp('current_timestamp') ~ ") as date)" %}

with
{%- if month_ends is not none %}
anchor as (
    select max(month_start) as month_start from {{ ref('fct_customer_month') }}
),

opening as (
    select customer_id, month_end_balance as balance
    from {{ ref('fct_customer_month') }}
    where month_start = (select anchor.month_start from anchor)
),

bookings as (
    select *
    from {{ ref('int_completed_transactions') }}
    where
        month_start >= coalesce(
            (select {{ add_months('anchor.month_start', 1) }} from anchor), cast('1900-01-01' as date)
        )
),
{%- else %}
opening as (
    select cast(null as varchar) as customer_id, cast(0 as decimal(18, 2)) as balance
    where 1 = 0
),

bookings as (
    select * from {{ ref('int_completed_transactions') }}
),
{%- endif %}

sides as (
    {{ transaction_sides('bookings') }}
),

-- one row per customer and booking: an own transfer moves nothing between the two sides
customer_bookings as (
    select
        customer_id,
        transaction_id,
        booked_at,
        sum(signed_amount) as net_amount,
        sum(case when direction = 'debit' and not is_own_transfer then amount else 0 end) as withdrawn
    from sides
    group by customer_id, transaction_id, booked_at
),

balances as (
    select
        customer_bookings.*,
        coalesce(opening.balance, 0) + sum(customer_bookings.net_amount) over (
            partition by customer_bookings.customer_id
            order by customer_bookings.booked_at, customer_bookings.transaction_id
            rows between unbounded preceding and current row
        ) as balance_after
    from customer_bookings
    left join opening
        on customer_bookings.customer_id = opening.customer_id
),

alerted as (
    select * from balances
    {%- if month_ends is none %}
    where booked_at >= {{ this_month }}
    {%- endif %}
),

events as (
    select 'went_into_red' as kind, customer_id, transaction_id, booked_at, -net_amount as amount, balance_after
    from alerted
    where balance_after < 0 and balance_after - net_amount >= 0
    union all
    select 'large_withdrawal' as kind, customer_id, transaction_id, booked_at, withdrawn as amount, balance_after
    from alerted
    where withdrawn >= {{ var('large_withdrawal_threshold') }}
)

select
    cast(events.kind || ':' || events.transaction_id || ':' || events.customer_id as varchar) as alert_id,
    {{ to_utc_timestamp('current_timestamp') }} as detected_at,
    cast(events.customer_id as varchar) as customer_id,
    cast(customers.advisor_id as varchar) as advisor_id,
    cast(events.kind as varchar) as kind,
    cast(events.amount as decimal(18, 2)) as amount,
    cast(events.balance_after as decimal(18, 2)) as balance_after,
    cast(events.transaction_id as varchar) as transaction_id,
    events.booked_at
from events
left join {{ ref('stg_customer') }} as customers
    on events.customer_id = customers.customer_id
{%- if is_incremental() %}
where
    events.kind || ':' || events.transaction_id || ':' || events.customer_id not in (
        select recorded.alert_id from {{ this }} as recorded
    )
{%- endif %}
