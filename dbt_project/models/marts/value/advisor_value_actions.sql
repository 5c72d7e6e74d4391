-- noqa: disable=RF04
-- (action is the contract's column name)
-- What the advisor should do about their customers' value (docs/business-definitions.md#advisor-value-actions):
-- for each month M, one row per customer and action, for the customers of fct_customer_value in M,
-- each with its advisor at M's end (the advisor filters their own) and its rule in words (reason):
--   offer_upgrade   the value tier is one var action_offer_upgrade_tiers lists for the assigned
--                   profile (High or Top on Bronze, Top on Gold), or the customer is on the upgrade
--                   list of M (advisor_upgrade_candidates: a high streak of alert_streak_months). The
--                   streak rule keeps its one home there; this row names it (from_upgrade_list).
--   review_pricing  the value tier is one var action_review_pricing_tiers lists for the assigned
--                   profile (Negative or Low on Gold or Diamond)
--   dropped_tier    the tier fell by var action_dropped_tier_steps (1) or more since M-1, with the
--                   part whose twelve-month sum fell most (driver, driver_change): contribution_12m of
--                   M minus that of M-1 is the contribution of M minus that of M-12, part by part
--   newly_negative  contribution_12m < 0 in M and >= 0 in M-1
-- Reads fct_customer_value for M, M-1 and M-12 (earlier partitions, or the same run, built them) and
-- advisor_upgrade_candidates for M. A customer with no M-1 row (new, or M is the first month built)
-- has no before: no dropped_tier, no newly_negative.
{%- set window = month_window() %}
{%- set streak = var('alert_streak_months') %}
{#- the parts of the contribution, in main_driver's tie order, with their sign in it -#}
{%- set parts = [
    ('loan_margin', 'loan margin', ''), ('deposit_margin', 'deposit margin', ''),
    ('investment_fees', 'investment fees', ''), ('card_income', 'card income', ''),
    ('overdraft_interest', 'overdraft interest', ''), ('cost_to_serve', 'cost to serve', '-'),
] %}

with value_months as (
    select
        customer_id,
        month_start,
        advisor_id,
        profile,
        value_tier,
        value_tier_rank,
        contribution_12m,
        main_driver,
        definition_version,
        loan_margin,
        deposit_margin,
        investment_fees,
        card_income,
        overdraft_interest,
        cost_to_serve
    from {{ ref('fct_customer_value') }}
    {%- if window is not none %}
        where
            month_start >= {{ add_months(date_literal(window.start), -12) }}
            and month_start < {{ date_literal(window.end) }}
    {%- endif %}
),

upgrade_list as (
    select customer_id, month_start, high_withdrawals_months, high_loans_months, high_investments_months
    from {{ ref('advisor_upgrade_candidates') }}
    where {{ month_window_filter('month_start') }}
),

-- each month of the window beside the customer's month before (its tier) and the month twelve
-- before (what left the twelve months): a part's change is what it moved contribution_12m by
compared as (
    select
        current_month.*,
        previous.value_tier as previous_value_tier,
        previous.value_tier_rank as previous_value_tier_rank,
        previous.contribution_12m as previous_contribution_12m,
        previous.definition_version as previous_definition_version,
        {%- for column, _, sign in parts %}
        {{ sign }}(current_month.{{ column }} - coalesce(year_before.{{ column }}, 0)) as {{ column }}_change,
        {%- endfor %}
        upgrade_list.customer_id is not null as from_upgrade_list,
        upgrade_list.high_withdrawals_months,
        upgrade_list.high_loans_months,
        upgrade_list.high_investments_months
    from value_months as current_month
    left join value_months as previous
        on current_month.customer_id = previous.customer_id
        and previous.month_start = {{ add_months('current_month.month_start', -1) }}
    left join value_months as year_before
        on current_month.customer_id = year_before.customer_id
        and year_before.month_start = {{ add_months('current_month.month_start', -12) }}
    left join upgrade_list
        on current_month.customer_id = upgrade_list.customer_id
        and current_month.month_start = upgrade_list.month_start
    where {{ month_window_filter('current_month.month_start') }}
),

-- the part that lowered contribution_12m most (ties: main_driver's order)
drivers as (
    select
        *,
        least(
            {%- for column, _, _ in parts %}
            {{ column }}_change{{ ',' if not loop.last }}
            {%- endfor %}
        ) as fall
    from compared
),

rules as (
    select
        *,
        (
            {%- for profile, tiers in var('action_offer_upgrade_tiers').items() %}
            (
                profile = '{{ profile }}'
                and value_tier in ('{{ tiers | join("', '") }}')
            ){{ ' or' if not loop.last }}
            {%- endfor %}
        ) as tier_above_profile,
        (
            {%- for profile, tiers in var('action_review_pricing_tiers').items() %}
            (
                profile = '{{ profile }}'
                and value_tier in ('{{ tiers | join("', '") }}')
            ){{ ' or' if not loop.last }}
            {%- endfor %}
        ) as tier_below_profile,
        case
            {%- for column, words, _ in parts %}
            when {{ column }}_change = fall then '{{ words }}'
            {%- endfor %}
        end as falling_driver,
        ' (contribution over 12 months ' || cast(contribution_12m as varchar) || ' EUR)' as contribution_words
    from drivers
),

actions as (
    select
        *,
        'offer_upgrade' as action,
        main_driver as driver,
        cast(null as decimal(18, 2)) as driver_change,
        -- every rule that holds, '; '-separated (the first separator is cut)
        substr(
            case
                when tier_above_profile
                    then '; value tier ' || value_tier || contribution_words || ' above the ' || profile || ' profile'
                else ''
            end
            || case
                when high_withdrawals_months >= {{ streak }}
                    then '; on the upgrade list: withdrawals of at least '
                        || '{{ var("high_withdrawals_threshold") }} EUR for '
                        || cast(high_withdrawals_months as varchar) || ' consecutive months'
                else ''
            end
            || case
                when high_loans_months >= {{ streak }}
                    then '; on the upgrade list: loans outstanding of at least '
                        || '{{ var("high_loans_threshold") }} EUR for '
                        || cast(high_loans_months as varchar) || ' consecutive months'
                else ''
            end
            || case
                when high_investments_months >= {{ streak }}
                    then '; on the upgrade list: investments held of at least '
                        || '{{ var("high_investments_threshold") }} EUR for '
                        || cast(high_investments_months as varchar) || ' consecutive months'
                else ''
            end,
            3
        ) as reason
    from rules
    where tier_above_profile or from_upgrade_list

    union all

    select
        *,
        'review_pricing' as action,
        main_driver as driver,
        cast(null as decimal(18, 2)) as driver_change,
        'value tier ' || value_tier || contribution_words || ' below the ' || profile || ' profile' as reason
    from rules
    where tier_below_profile

    union all

    select
        *,
        'dropped_tier' as action,
        falling_driver as driver,
        cast(fall as decimal(18, 2)) as driver_change,
        'dropped from ' || previous_value_tier || ' to ' || value_tier
        || ': contribution over 12 months ' || cast(previous_contribution_12m as varchar) || ' to '
        || cast(contribution_12m as varchar) || ' EUR; fell most: ' || falling_driver || ' ('
        || cast(cast(fall as decimal(18, 2)) as varchar) || ' EUR over the twelve months)'
        || case
            when previous_definition_version <> definition_version
                then '; the value definition changed since the month before'
            else ''
        end as reason
    from rules
    where previous_value_tier_rank - value_tier_rank >= {{ var('action_dropped_tier_steps') }}

    union all

    select
        *,
        'newly_negative' as action,
        main_driver as driver,
        cast(null as decimal(18, 2)) as driver_change,
        'contribution over 12 months negative: ' || cast(contribution_12m as varchar) || ' EUR, from '
        || cast(previous_contribution_12m as varchar) || ' EUR the month before; main driver: '
        || main_driver as reason
    from rules
    where contribution_12m < 0 and previous_contribution_12m >= 0
)

select
    cast(month_start as date) as month_start,
    cast(customer_id as varchar) as customer_id,
    cast(advisor_id as varchar) as advisor_id,
    cast(value_tier as varchar) as value_tier,
    cast(profile as varchar) as profile,
    cast(action as varchar) as action,
    cast(reason as varchar) as reason,
    cast(driver as varchar) as driver,
    cast(driver_change as decimal(18, 2)) as driver_change,
    cast(contribution_12m as decimal(18, 2)) as contribution_12m,
    cast(previous_value_tier as varchar) as previous_value_tier,
    cast(previous_contribution_12m as decimal(18, 2)) as previous_contribution_12m,
    cast(from_upgrade_list as boolean) as from_upgrade_list,
    cast(definition_version as varchar) as definition_version
from actions
