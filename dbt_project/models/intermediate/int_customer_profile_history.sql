-- Profile, advisor and names of each customer over time, from the snapshot: a version holds from
-- valid_from (inclusive) to valid_to (exclusive, NULL = still current). The first known version also
-- covers everything before it (valid_from NULL): the snapshot only starts when the platform first saw
-- the customer, so earlier months show them at their earliest known version. Month-grain marts read
-- a customer as at each month's end from here (macro customer_at_month_end).
with versions as (
    select * from {{ ref('snp_customer') }}
)

select
    customer_id,
    profile,
    advisor_id,
    firstname,
    surname,
    case
        when row_number() over (partition by customer_id order by dbt_valid_from) = 1 then null
        else dbt_valid_from
    end as valid_from,
    dbt_valid_to as valid_to,
    dbt_valid_from as recorded_at
from versions
