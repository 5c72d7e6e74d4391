{#- kpi_customers_per_profile: per month, the profile counts add up to the customers signed up by
    the month's last day (each customer counted once, whatever their profile history) -#}
{% test counts_sum_to_signed_up(model, customers) %}
    with counted as (
        select month_start, sum(customer_count) as counted_customers
        from {{ model }}
        group by month_start
    ),

    signed_up as (
        select counted.month_start, count(customers.customer_id) as signed_up_customers
        from counted
        left join {{ customers }} as customers
            on customers.signup_date < {{ add_months('counted.month_start', 1) }}
        group by counted.month_start
    )

    select counted.month_start, counted.counted_customers, signed_up.signed_up_customers
    from counted
    inner join signed_up on counted.month_start = signed_up.month_start
    where counted.counted_customers <> signed_up.signed_up_customers
{% endtest %}
