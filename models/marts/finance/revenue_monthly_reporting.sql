-- SPEC §3 "Reporting currency" applied to revenue_monthly: each month and currency's revenue converted at the
-- month's average rate, each amount rounded per row to the reporting currency's minor unit (half away from
-- zero). Built only when the dbt var reporting_currency is set; empty otherwise.
with revenue as (

    select * from {{ ref('revenue_monthly') }}

),

rates as (

    select * from {{ ref('int_fx_rates_monthly') }}

),

final as (

    select
        revenue.month,
        revenue.currency,
        rates.reporting_currency,
        rates.average_rate,
        {{- amounts_at_average_rate(['usage_revenue', 'credit_consumption_revenue', 'credit_breakage_revenue',
                                     'credit_note_revenue', 'total_revenue'], 'revenue', 'rates') }}
    from revenue
    inner join rates
        on revenue.month = rates.month
       and revenue.currency = rates.currency

)

select * from final
