-- The customer health & risk score, per customer and month (docs/business-definitions.md#risk-score):
-- 0 (healthy) to 100 (at risk), the sum of four capped parts over the risk_window_months (6) months
-- ending in M. Each part is rounded half up to 2 decimals, the score is their sum rounded half up to
-- a whole number, the band follows from the score (vars risk_*, dbt_project.yml).
--   red_points       = red max x months in the red / months observed
--   overdraft_points = straight line from 0 (lowest month-end balance >= 0) to the maximum (an
--                      overdraft of risk_overdraft_full_eur or deeper)
--   spending_points  = straight line on outflows / inflows, the maximum for outflows with no inflow
--   debt_points      = straight line on loans outstanding in M / a year of income (12 x the average
--                      monthly inflow), the maximum for a loan with no inflow
-- Read from fct_customer_month only: the window's months and the (risk_window_months - 1) before,
-- which earlier partitions (or the same run) built. A customer's months observed are those of the
-- months the warehouse holds for them: since their sign-up, and since the first month built.
{%- set window = month_window() %}
{%- set span = var('risk_window_months') | int %}

with scored as (
    select customer_id, month_start, advisor_id, loans_outstanding
    from {{ ref('fct_customer_month') }}
    where {{ month_window_filter('month_start') }}
),

observed as (
    select customer_id, month_start, month_end_balance, total_credits, total_debits, withdrawals
    from {{ ref('fct_customer_month') }}
    {%- if window is not none %}
        where
            month_start >= {{ add_months(date_literal(window.start), 1 - span) }}
            and month_start < {{ date_literal(window.end) }}
    {%- endif %}
),

inputs as (
    select
        scored.customer_id,
        scored.month_start,
        scored.advisor_id,
        scored.loans_outstanding,
        count(*) as months_observed,
        sum(case when observed.month_end_balance < 0 then 1 else 0 end) as months_in_red,
        min(observed.month_end_balance) as lowest_balance,
        -- money in: the credits except moves between the customer's own accounts, which are the
        -- debits that are not withdrawals; money out: the withdrawals
        sum(observed.total_credits - (observed.total_debits - observed.withdrawals)) as inflows,
        sum(observed.withdrawals) as outflows
    from scored
    inner join observed
        on scored.customer_id = observed.customer_id
        and scored.month_start >= observed.month_start
        and observed.month_start > {{ add_months('scored.month_start', -span) }}
    group by scored.customer_id, scored.month_start, scored.advisor_id, scored.loans_outstanding
),

parts as (
    select
        *,
        {{ divide_half_up(var('risk_red_max_points') ~ ' * months_in_red', 'months_observed') }} as red_points,
        {{ linear_points(
            '(0 - lowest_balance)', '1', 0, var('risk_overdraft_full_eur'), var('risk_overdraft_max_points')) }}
            as overdraft_points,
        case
            when inflows > 0
                then {{ linear_points(
                    'outflows', 'inflows', var('risk_spending_safe_ratio'), var('risk_spending_full_ratio'),
                    var('risk_spending_max_points')) }}
            when outflows > 0 then cast({{ var('risk_spending_max_points') }} as decimal(18, 2))
            else cast(0 as decimal(18, 2))
        end as spending_points,
        -- loans / (12 x inflows / months observed), compared and divided without a division
        case
            when inflows > 0
                then {{ linear_points(
                    'loans_outstanding * months_observed', '12 * inflows', var('risk_debt_safe_years'),
                    var('risk_debt_full_years'), var('risk_debt_max_points')) }}
            when loans_outstanding > 0 then cast({{ var('risk_debt_max_points') }} as decimal(18, 2))
            else cast(0 as decimal(18, 2))
        end as debt_points
    from inputs
),

scores as (
    select
        *,
        -- the parts are >= 0: round() on a DECIMAL rounds half away from zero, here half up
        cast(round(red_points + overdraft_points + spending_points + debt_points, 0) as integer) as score
    from parts
)

select
    cast(customer_id as varchar) as customer_id,
    cast(month_start as date) as month_start,
    cast(advisor_id as varchar) as advisor_id,
    cast(score as integer) as score,
    cast({{ risk_band('score') }} as varchar) as band,
    cast(red_points as decimal(5, 2)) as red_points,
    cast(overdraft_points as decimal(5, 2)) as overdraft_points,
    cast(spending_points as decimal(5, 2)) as spending_points,
    cast(debt_points as decimal(5, 2)) as debt_points,
    cast(months_observed as integer) as months_observed,
    cast(months_in_red as integer) as months_in_red,
    cast(lowest_balance as decimal(18, 2)) as lowest_balance,
    cast(inflows as decimal(18, 2)) as inflows,
    cast(outflows as decimal(18, 2)) as outflows,
    cast(loans_outstanding as decimal(18, 2)) as loans_outstanding
from scores
