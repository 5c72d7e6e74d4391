with customers as (
    select * from {{ ref('stg_customer') }}
),

profile_labels as (
    select * from {{ ref('profile_labels') }}
)

select
    customers.customer_id,
    customers.firstname,
    customers.surname,
    customers.signup_date,
    cast(date_trunc('month', customers.signup_date) as date) as signup_month,
    customers.profile,
    profile_labels.profile_rank,
    customers.advisor_id,
    customers.updated_at
from customers
left join profile_labels
    on customers.profile = profile_labels.profile
