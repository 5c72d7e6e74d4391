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

