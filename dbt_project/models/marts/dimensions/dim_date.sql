-- noqa: disable=RF04
-- (year, month, day are the contract's column names)
-- One row per day of the months the data covers (first account, sign-up or transaction month to
-- the last one's end).
with days as (
    {{ date_spine('day', first_data_month(), add_months(last_data_month(), 1)) }}
)

select
    date_day,
    cast(date_trunc('month', date_day) as date) as month_start,
    cast({{ add_months("date_trunc('month', date_day)", 1) }} - 1 as date) as month_last_day,
    cast(extract(year from date_day) as integer) as year,
    cast(extract(quarter from date_day) as integer) as quarter,
    cast(extract(month from date_day) as integer) as month,
    cast(extract(day from date_day) as integer) as day,
    date_day = cast({{ add_months("date_trunc('month', date_day)", 1) }} - 1 as date) as is_month_end
from days
