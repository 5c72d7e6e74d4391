{#-
  The internal sides of completed transactions (DESIGN §5): a transaction is a debit for its
  sender account and a credit for its receiver account, when that side is one of our accounts
  (NULL means an outside party). `transactions` has the columns of int_completed_transactions.
-#}
{% macro transaction_sides(transactions) -%}
    select
        transaction_id,
        transaction_date,
        month_start,
        sender_account_id as account_id,
        sender_customer_id as customer_id,
        'debit' as direction,
        amount,
        -amount as signed_amount,
        category,
        description,
        receiver_account_id as counterparty_account_id,
        counterparty,
        is_own_transfer
    from {{ transactions }}
    where sender_account_id is not null

    union all

    select
        transaction_id,
        transaction_date,
        month_start,
        receiver_account_id as account_id,
        receiver_customer_id as customer_id,
        'credit' as direction,
        amount,
        amount as signed_amount,
        category,
        description,
        sender_account_id as counterparty_account_id,
        counterparty,
        is_own_transfer
    from {{ transactions }}
    where receiver_account_id is not null
{%- endmacro %}

{#-
  The ids of the raw transactions with a version dated in [start, end) (ISO dates; no lower bound
  when start is none). Staging keeps
  the latest version of each transaction_id; a filter on that key is applied before the
  deduplication, so a month reads only its own transactions instead of re-sorting the whole
  history. Every transaction whose latest version is in the window has its id here.
-#}
{% macro transaction_ids_dated_between(start_iso, end_iso) -%}
    select transaction_id
    from {{ source('raw', 'transaction') }}
    where {{ to_utc_timestamp('transaction_date') }} < {{ date_literal(end_iso) }}
    {%- if start_iso is not none %}
        and {{ to_utc_timestamp('transaction_date') }} >= {{ date_literal(start_iso) }}
    {%- endif %}
{%- endmacro %}
