-- The booking date (docs/business-definitions.md#booking-date): when the core banking system booked
-- a transaction. NULL while it is pending or failed, set once when it completes; a completed
-- transaction counts in the month of its booking, not of its transaction_date.
alter table banking.transaction add column booked_at timestamptz;

-- Rows that completed before this column existed: the core banking system completed them at their
-- last update, and never before they were made, so booked_at = greatest(transaction_date, updated_at).
-- updated_at moves with them: incremental ingestion (on updated_at) then copies the new column too.
update banking.transaction
set booked_at = greatest(transaction_date, updated_at), updated_at = now()
where status = 'completed';

-- Month-end balances follow booking. They were written by transaction date, so a transaction booked
-- on a later day than it was made moved the balance rows dated from its transaction day to the day
-- before its booking: take its amount back out of those rows.
with late as (
    select
        sender_account_id,
        receiver_account_id,
        amount,
        (transaction_date at time zone 'UTC')::date as made_on,
        (booked_at at time zone 'UTC')::date as booked_on
    from banking.transaction
    where status = 'completed' and (booked_at at time zone 'UTC')::date > (transaction_date at time zone 'UTC')::date
),

moves as (
    select receiver_account_id as account_id, amount as delta, made_on, booked_on
    from late where receiver_account_id is not null
    union all
    select sender_account_id, -amount, made_on, booked_on from late where sender_account_id is not null
),

restated as (
    select b.account_id, b.balance_date, sum(m.delta) as booked_later
    from banking.balance as b
    inner join moves as m
        on b.account_id = m.account_id and b.balance_date >= m.made_on and b.balance_date < m.booked_on
    group by b.account_id, b.balance_date
)

update banking.balance as b
set balance = b.balance - r.booked_later, updated_at = now()
from restated as r
where b.account_id = r.account_id and b.balance_date = r.balance_date;

-- the source's own rule, enforced like its other constraints
alter table banking.transaction
add constraint transaction_booked_when_completed check ((status = 'completed') = (booked_at is not null)),
add constraint transaction_booked_after_made check (booked_at is null or booked_at >= transaction_date);

-- the month-end run and the live cadence read by booking time
create index transaction_booked_at_idx on banking.transaction (booked_at);
