-- The usable rows of raw.transaction: latest version of each key, typed (base_transaction); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    transaction_id,
    sender_account_id,
    receiver_account_id,
    counterparty,
    transaction_date,
    amount,
    currency,
    description,
    category,
    status,
    booked_at,
    created_at,
    updated_at,
    sender_customer_id,
    receiver_customer_id
from {{ ref('base_transaction') }}
where quarantine_reason is null
