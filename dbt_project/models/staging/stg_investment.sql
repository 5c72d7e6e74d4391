-- The usable rows of raw.investment: latest version of each key, typed (base_investment); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    investment_id,
    customer_id,
    product_name,
    amount,
    opened_at,
    closed_at,
    status,
    updated_at
from {{ ref('base_investment') }}
where quarantine_reason is null
