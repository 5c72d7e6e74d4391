{#- value_tier_migrations: per month of the window, the counts by to_tier are the month's tier
    counts in `tiers` (fct_customer_value) and the counts by from_tier are the previous month's.
    Returns the (month, side, tier) whose counts differ. -#}
{% test value_tier_migrations_reconcile(model, tiers) %}
    with migrations as (
        select * from {{ model }}
    ),

    -- the window's months, whether or not the migrations hold them
    months as (
        select month_start from migrations
        union
        select month_start from {{ tiers }}
        where {{ month_window_filter('month_start') }}
    ),

    moved as (
        select month_start, 'to' as side, to_tier as tier, sum(customer_count) as customers
        from migrations
        where to_tier is not null
        group by month_start, to_tier
        union all
        select month_start, 'from' as side, from_tier as tier, sum(customer_count) as customers
        from migrations
        where from_tier is not null
        group by month_start, from_tier
    ),

    held as (
        select months.month_start, 'to' as side, tiers.value_tier as tier, count(*) as customers
        from months
        inner join {{ tiers }} as tiers
            on tiers.month_start = months.month_start
        where {{ month_window_filter('tiers.month_start') }}
        group by months.month_start, tiers.value_tier
        union all
        select months.month_start, 'from' as side, tiers.value_tier as tier, count(*) as customers
        from months
        inner join {{ tiers }} as tiers
            on tiers.month_start = {{ add_months('months.month_start', -1) }}
        where {{ month_window_and_previous_filter('tiers.month_start') }}
        group by months.month_start, tiers.value_tier
    )

    select
        coalesce(moved.month_start, held.month_start) as month_start,
        coalesce(moved.side, held.side) as side,
        coalesce(moved.tier, held.tier) as tier,
        moved.customers as moved_customers,
        held.customers as held_customers
    from moved
    full outer join held
        on moved.month_start = held.month_start
        and moved.side = held.side
        and moved.tier = held.tier
    where moved.customers is distinct from held.customers
{% endtest %}
