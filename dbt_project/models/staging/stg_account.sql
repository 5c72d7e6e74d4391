-- The usable rows of raw.account: latest version of each key, typed (base_account); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    account_id,
    customer_id,
    account_type,
    currency,
    open_date,
    closed_date,
    updated_at
from {{ ref('base_account') }}
where quarantine_reason is null
