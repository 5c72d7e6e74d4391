-- For each month: every customer for whom at least one criterion has been high in that month and
-- each month before it, for at least `alert_streak_months` (3) consecutive months (docs/business-definitions.md):
-- withdrawals >= high_withdrawals_threshold, loans outstanding >= high_loans_threshold,
-- investments held >= high_investments_threshold. The *_months columns are the streaks.
{%- set streak = var('alert_streak_months') %}
{% call advisor_list(
    'high_withdrawals_months >= ' ~ streak
    ~ ' or high_loans_months >= ' ~ streak
    ~ ' or high_investments_months >= ' ~ streak
) %}
    cast(customer_months.high_withdrawals_months as integer) as high_withdrawals_months,
    cast(customer_months.high_loans_months as integer) as high_loans_months,
    cast(customer_months.high_investments_months as integer) as high_investments_months,
    cast(customer_months.withdrawals as decimal(18, 2)) as withdrawals,
    cast(customer_months.loans_outstanding as decimal(18, 2)) as loans_outstanding,
    cast(customer_months.investments_held as decimal(18, 2)) as investments_held,
    cast(customer_months.month_end_balance as decimal(18, 2)) as month_end_balance
{% endcall %}
