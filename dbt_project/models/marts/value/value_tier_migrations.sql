-- How customers moved between value tiers (docs/business-definitions.md#tier-migrations): for each
-- month M, one row per (tier at the end of M−1, tier in M) with the number of customers.
-- from_tier is NULL for a customer with a row in M and none in M−1 (new this month, or M is the
-- warehouse's first month), to_tier is NULL for one with a row in M−1 and none in M (gone). So per
-- month, the counts by to_tier are M's tier counts and the counts by from_tier are M−1's
-- (test value_tier_migrations_reconcile). M−1 is read from fct_customer_value, built before M.
with months as (
    {{ window_months() }}
),

current_tiers as (
    select customer_id, month_start, value_tier, value_tier_rank
    from {{ ref('fct_customer_value') }}
    where {{ month_window_filter('month_start') }}
),

-- each row of the month before, on the month it moves into
previous_tiers as (
    select
        customer_id,
        {{ add_months('month_start', 1) }} as month_start,
        value_tier,
        value_tier_rank
    from {{ ref('fct_customer_value') }}
    where {{ month_window_and_previous_filter('month_start') }}
),

moves as (
    select
        coalesce(current_tiers.month_start, previous_tiers.month_start) as month_start,
        previous_tiers.value_tier as from_tier,
        current_tiers.value_tier as to_tier,
        previous_tiers.value_tier_rank as from_rank,
        current_tiers.value_tier_rank as to_rank
    from current_tiers
    full outer join previous_tiers
        on current_tiers.customer_id = previous_tiers.customer_id
        and current_tiers.month_start = previous_tiers.month_start
)

select
    cast(month_start as date) as month_start,
    cast(from_tier as varchar) as from_tier,
    cast(to_tier as varchar) as to_tier,
    cast(from_rank as integer) as from_tier_rank,
    cast(to_rank as integer) as to_tier_rank,
    cast(
        case
            when from_tier is null then 'new'
            when to_tier is null then 'gone'
            when to_rank > from_rank then 'up'
            when to_rank < from_rank then 'down'
            else 'same'
        end as varchar
    ) as movement,
    cast(count(*) as bigint) as customer_count
from moves
where month_start in (select months.month_start from months)
group by month_start, from_tier, to_tier, from_rank, to_rank
