-- The usable rows of raw.balance: latest version of each key, typed (base_balance); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    account_id,
    balance_date,
    balance,
    currency,
    updated_at
from {{ ref('base_balance') }}
where quarantine_reason is null
