-- Every advisor of raw.advisor at its latest version, typed, with the reason it cannot be used
-- (NULL when it can). stg_advisor keeps the good rows; quarantined_rows lists the others.
with source as (
    select * from {{ source('raw', 'advisor') }}
),

-- ingestion is at least once: keep the latest version of each advisor
latest as (
    select *
    from source
    qualify row_number() over (partition by advisor_id order by updated_at desc) = 1
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
