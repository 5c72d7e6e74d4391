-- The usable rows of raw.customer: latest version of each key, typed (base_customer); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    customer_id,
    firstname,
    surname,
    email,
    signup_date,
    profile_level,
    profile,
    advisor_id,
    updated_at
from {{ ref('base_customer') }}
where quarantine_reason is null
