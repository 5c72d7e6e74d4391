-- For each month: every customer in the red at the end of that month and of each month before it
-- for at least `alert_streak_months` (3) consecutive months, with their advisor (docs/business-definitions.md).
{% call advisor_list('months_in_red >= ' ~ var('alert_streak_months')) %}
    cast(customer_months.month_end_balance as decimal(18, 2)) as month_end_balance,
    cast(customer_months.months_in_red as integer) as months_in_red,
    cast(customer_months.withdrawals as decimal(18, 2)) as withdrawals
{% endcall %}
