-- The usable rows of raw.credit_card: latest version of each key, typed (base_credit_card); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    card_id,
    customer_id,
    amount_limit,
    fee,
    start_date,
    end_date,
    status,
    updated_at
from {{ ref('base_credit_card') }}
where quarantine_reason is null
