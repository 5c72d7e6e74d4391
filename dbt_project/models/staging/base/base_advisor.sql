-- Every advisor of raw.advisor at its latest version, typed, with the reason it cannot be used
-- (NULL when it can). stg_advisor keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'advisor'), 'advisor_id') }}
),

typed as (
    select
        cast(advisor_id as varchar) as advisor_id,
        cast(firstname as varchar) as firstname,
        cast(surname as varchar) as surname,
        cast(city as varchar) as city,
        cast(created_at as date) as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from latest
)

select
    *,
    case
        when advisor_id is null then 'missing_key'
    end as quarantine_reason
from typed
