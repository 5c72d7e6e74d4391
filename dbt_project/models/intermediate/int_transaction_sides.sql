-- One row per completed transaction and internal side: a debit for the sender account, a credit
-- for the receiver account. Complete history (the marts apply the same macro to their window).
{{ transaction_sides(ref('int_completed_transactions')) }}
