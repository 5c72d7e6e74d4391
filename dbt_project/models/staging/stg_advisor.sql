-- The usable rows of raw.advisor: latest version of each key, typed (base_advisor); rows with a
-- quarantine reason are left out here and listed in intermediate.quarantined_rows.
select
    advisor_id,
    firstname,
    surname,
    city,
    created_at,
    updated_at
from {{ ref('base_advisor') }}
where quarantine_reason is null
