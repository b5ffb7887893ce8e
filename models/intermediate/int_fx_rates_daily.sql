-- SPEC §3 "Reporting currency": the rate of every calendar day of every month a currency is converted in
-- (int_fx_conversion_months). A day without a rate in the file takes the latest earlier rate of that currency;
-- none earlier stops the build naming the currency and the first such day. The reporting currency itself has
-- rate 1. One row per currency and day; empty without a reporting currency.
{%- set rate_file = fx_rates_path(required=false) %}

with conversion_months as (

    select * from {{ ref('int_fx_conversion_months') }}

),

rates as (

    select * from {{ ref('stg_fx__rates') }}

),

day_numbers as (

    {{ integers(2) }}

),

days as (

    select
        conversion_months.currency,
        conversion_months.month,
        {{ add_days('day_numbers.n', 'conversion_months.month') }} as rate_date
    from conversion_months
    inner join day_numbers
        on day_numbers.n < 31
       and {{ add_days('day_numbers.n', 'conversion_months.month') }} < {{ add_months(1, 'conversion_months.month') }}

),

timeline as (

    select currency, rate_date, 1 as is_needed, cast(null as date) as known_rate_date
    from days
    where currency <> {{ reporting_currency_sql() }}

    union all

    select currency, rate_date, 0, rate_date
    from rates

),

carried as (

    select
        currency,
        rate_date,
        is_needed,
        -- a file rate on the day itself sorts before the day (is_needed 0 before 1): on or before
        max(known_rate_date) over (
            partition by currency order by rate_date, is_needed rows between unbounded preceding and current row
        ) as rate_source_date
    from timeline

),

resolved as (

    select
        carried.currency,
        carried.rate_date,
        carried.rate_source_date,
        rates.rate
    from carried
    left join rates
        on carried.currency = rates.currency
       and carried.rate_source_date = rates.rate_date
    where carried.is_needed = 1

    union all

    select
        currency,
        rate_date,
        rate_date,
        cast(1 as decimal(18, 12))
    from days
    where currency = {{ reporting_currency_sql() }}

),

first_missing as (

    select currency, min(rate_date) as rate_date
    from resolved
    where rate is null
    group by currency
    order by currency
    limit 1

),

final as (

    select
        {{ to_month('resolved.rate_date') }} as month,
        resolved.currency,
        resolved.rate_date,
        resolved.rate_source_date,
        case
            when resolved.rate is null then {{ orb_raise(
                "'Rate file " ~ rate_file | replace("'", "''") ~ ": no ' || first_missing.currency || ' rate on or before '"
                ~ " || cast(first_missing.rate_date as " ~ dbt.type_string() ~ ") || ' (reporting currency '"
                ~ " || " ~ reporting_currency_sql() ~ " || '); add a rate for that day or an earlier one'") }}
            else resolved.rate
        end as rate
    from resolved
    left join first_missing
        on 1 = 1

)

select * from final
