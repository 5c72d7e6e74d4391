with products as (
    select * from {{ ref('int_customer_products') }}
),

catalog as (
    select * from {{ ref('product_catalog') }}
)

select
    products.product_id,
    products.customer_id,
    products.product_type,
    products.product_name,
    catalog.product_label,
    products.amount,
    products.interest_rate,
    products.monthly_fee,
    products.start_date,
    products.end_date,
    products.status
from products
left join catalog
    on products.product_type = catalog.product_type
    and products.product_name = catalog.product_name
