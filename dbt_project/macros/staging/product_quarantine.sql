{#-
  The end of base_loan, base_credit_card and base_investment: a product row is usable only if it
  has its key, belongs to a usable customer, passes the product's own value checks, has a start
  date not after its end, and names only known values (the status, and for investments the
  product). The three share this order because quarantine_reason keeps the first rule a row
  breaks: one home keeps their reasons comparable across the product tables.

  Called after the model's `typed` CTE (it adds the `customers` CTE and the final select):
  - `value_checks`: the product's own rules, as [reason, condition on `typed`] pairs, checked
    right after the customer;
  - `known_values`: [column, accepted values, reason] triples, checked last, in order.
-#}
{% macro product_quarantine(key, start_column, end_column, value_checks, known_values) -%}
customers as (
    select customer_id from {{ ref('stg_customer') }}
)

select
    typed.*,
    case
        when typed.{{ key }} is null then 'missing_key'
        when customers.customer_id is null then 'unknown_customer'
        {%- for reason, condition in value_checks %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
        when typed.{{ start_column }} is null then 'missing_start_date'
        when typed.{{ end_column }} < typed.{{ start_column }} then 'ends_before_start'
        {%- for column, accepted, reason in known_values %}
        when typed.{{ column }} is null or typed.{{ column }} not in ('{{ accepted | join("', '") }}') then '{{ reason }}'
        {%- endfor %}
    end as quarantine_reason
from typed
left join customers
    on typed.customer_id = customers.customer_id
{%- endmacro %}
