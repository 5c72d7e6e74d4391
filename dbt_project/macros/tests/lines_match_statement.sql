{#-
  Statement lines agree with their statement (fct_monthly_statement): per account and month the
  credit and debit lines sum to total_credits / total_debits, their count is transaction_count,
  and the last running_balance is the closing balance.
-#}
{% test lines_match_statement(model, statements) %}
    with lines as (
        select * from {{ model }}
    ),

    line_totals as (
        select
            account_id,
            month_start,
            sum(case when direction = 'credit' then amount else 0 end) as line_credits,
            sum(case when direction = 'debit' then amount else 0 end) as line_debits,
            count(*) as line_count,
            max(line_number) as last_line
        from lines
        group by account_id, month_start
    ),

    last_balances as (
        select lines.account_id, lines.month_start, lines.running_balance as last_running_balance
        from lines
        inner join line_totals
            on lines.account_id = line_totals.account_id
            and lines.month_start = line_totals.month_start
            and lines.line_number = line_totals.last_line
    ),

    statements as (
        select * from {{ statements }}
        where {{ month_window_filter('month_start') }}
    )

    select
        statements.account_id,
        statements.month_start,
        statements.total_credits,
        line_totals.line_credits,
        statements.total_debits,
        line_totals.line_debits,
        statements.transaction_count,
        line_totals.line_count,
        statements.closing_balance,
        last_balances.last_running_balance
    from statements
    left join line_totals
        on statements.account_id = line_totals.account_id
        and statements.month_start = line_totals.month_start
    left join last_balances
        on statements.account_id = last_balances.account_id
        and statements.month_start = last_balances.month_start
    where statements.total_credits <> coalesce(line_totals.line_credits, 0)
        or statements.total_debits <> coalesce(line_totals.line_debits, 0)
        or statements.transaction_count <> coalesce(line_totals.line_count, 0)
        or (line_totals.line_count > 0 and statements.closing_balance <> last_balances.last_running_balance)
{% endtest %}
