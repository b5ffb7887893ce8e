-- SPEC §3 "Reporting currency", per month and currency converted: the average rate (revenue and billings
-- convert at the mean of the month's daily rates, kept to 10 decimal places, half away from zero) and the
-- closing rate (balances convert at the rate of the month's last day), with the reporting currency's minor
-- unit. The average is computed exactly in integer units of 10^-12 (decimal division returns a DOUBLE on
-- DuckDB): each day's units are split into a quotient and a remainder by 100 x days so no sum overflows.
with daily as (

    select * from {{ ref('int_fx_rates_daily') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

counted as (

    select
        month,
        currency,
        rate_date,
        rate,
        cast(rate as decimal(30, 12)) * cast(1000000000000 as decimal(13, 0)) as rate_units,
        count(*) over (partition by month, currency) as day_count
    from daily

),

split as (

    select
        month,
        currency,
        day_count,
        {{ integer_divide('cast(rate_units as bigint)', '100 * day_count') }} as quotient,
        cast(rate_units as bigint) - {{ integer_divide('cast(rate_units as bigint)', '100 * day_count') }} * 100 * day_count
            as remainder
    from counted

),

averaged as (

    select
        month,
        currency,
        max(day_count) as day_count,
        sum(quotient) + {{ integer_divide('2 * sum(remainder) + 100 * max(day_count)', '200 * max(day_count)') }}
            as average_units
    from split
    group by month, currency

),

closing as (

    select month, currency, rate as closing_rate
    from daily
    where rate_date = {{ add_days(-1, add_months(1, 'month')) }}

),

reporting as (

    select
        {{ reporting_currency_sql() }} as reporting_currency,
        currencies.minor_unit as reporting_minor_unit
    from (select 1 as one) as configured
    left join currencies
        on currencies.currency_code = {{ reporting_currency_sql() }}

),

final as (

    select
        averaged.month,
        averaged.currency,
        reporting.reporting_currency,
        case
            when reporting.reporting_minor_unit is null then {{ orb_raise(
                "'reporting_currency ' || coalesce(reporting.reporting_currency, '?') || ' is not a currency of seeds/currencies.csv'") }}
            else reporting.reporting_minor_unit
        end as reporting_minor_unit,
        cast(cast(averaged.average_units as decimal(18, 0)) * cast(0.0000000001 as decimal(11, 10)) as decimal(18, 10))
            as average_rate,
        closing.closing_rate,
        cast(averaged.day_count as integer) as day_count
    from averaged
    inner join closing
        on averaged.month = closing.month
       and averaged.currency = closing.currency
    cross join reporting

)

select * from final
