-- The usable rows of raw.loan: latest version of each key, typed (base_loan); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    loan_id,
    customer_id,
    amount,
    interest_rate,
    start_date,
    end_date,
    status,
    updated_at
from {{ ref('base_loan') }}
where quarantine_reason is null
