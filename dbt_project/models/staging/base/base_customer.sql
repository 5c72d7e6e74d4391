-- Every customer of raw.customer at its latest version, typed, with the reason it cannot be used
-- (NULL when it can). stg_customer keeps the good rows; quarantined_rows lists the others.
with latest as (
    {{ latest_version(source('raw', 'customer'), 'customer_id') }}
),

profile_labels as (
    select * from {{ ref('profile_labels') }}
),

typed as (
    select
        cast(latest.customer_id as varchar) as customer_id,
        cast(latest.firstname as varchar) as firstname,
        cast(latest.surname as varchar) as surname,
        cast(latest.email as varchar) as email,
        cast(latest.signup_date as date) as signup_date,
        cast(latest.profile_level as varchar) as profile_level,
        -- the source spells the top level `diamant`; the warehouse shows Bronze / Gold / Diamond
        profile_labels.profile,
        cast(latest.advisor_id as varchar) as advisor_id,
        {{ to_utc_timestamp('latest.updated_at') }} as updated_at
    from latest
    left join profile_labels
        on lower(cast(latest.profile_level as varchar)) = profile_labels.profile_level
)

select
    *,
    case
        when customer_id is null then 'missing_key'
        when signup_date is null then 'missing_signup_date'
        when profile is null then 'unknown_profile_level'
        when updated_at is null then 'missing_updated_at'
    end as quarantine_reason
from typed
