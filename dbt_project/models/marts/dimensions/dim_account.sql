with accounts as (
    select * from {{ ref('stg_account') }}
),

account_types as (
    select * from {{ ref('account_types') }}
)

select
    accounts.account_id,
    accounts.customer_id,
    accounts.account_type,
    account_types.account_type_label,
    account_types.is_savings,
    accounts.currency,
    accounts.open_date,
    accounts.closed_date
from accounts
left join account_types
    on accounts.account_type = account_types.account_type
