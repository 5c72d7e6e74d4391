{{ config(materialized='table') }}
-- Every raw row kept out of the marts, with the table it came from, its key and the reason (one
-- per row: the first rule it breaks, in the order of its base_<table> model). The good rows of the
-- same load still flow; the check quarantine_is_empty reports the counts per table and reason.
{%- set tables = {
    'advisor': 'advisor_id',
    'customer': 'customer_id',
    'account': 'account_id',
    'transaction': 'transaction_id',
    'balance': "coalesce(account_id, '') || '/' || coalesce(cast(balance_date as varchar), '')",
    'loan': 'loan_id',
    'investment': 'investment_id',
    'credit_card': 'card_id',
} %}

{% for table, key in tables.items() %}
select
    cast('{{ table }}' as varchar) as table_name,
    cast({{ key }} as varchar) as row_key,
    cast(quarantine_reason as varchar) as reason,
    updated_at
from {{ ref('base_' ~ table) }}
where quarantine_reason is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
