with advisors as (
    select * from {{ ref('stg_advisor') }}
),

customers as (
    select advisor_id, count(*) as customer_count
    from {{ ref('stg_customer') }}
    group by advisor_id
)

select
    advisors.advisor_id,
    advisors.firstname,
    advisors.surname,
    advisors.city,
    advisors.created_at,
    coalesce(customers.customer_count, 0) as customer_count
from advisors
left join customers
    on advisors.advisor_id = customers.advisor_id
