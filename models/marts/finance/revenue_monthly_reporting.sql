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
        revenue.usage_revenue,
        {{ to_reporting_currency('revenue.usage_revenue', 'rates.average_rate', 'rates.reporting_minor_unit') }} as usage_revenue_reporting,
        revenue.credit_consumption_revenue,
        {{ to_reporting_currency('revenue.credit_consumption_revenue', 'rates.average_rate', 'rates.reporting_minor_unit') }} as credit_consumption_revenue_reporting,
        revenue.credit_breakage_revenue,
        {{ to_reporting_currency('revenue.credit_breakage_revenue', 'rates.average_rate', 'rates.reporting_minor_unit') }} as credit_breakage_revenue_reporting,
        revenue.credit_note_revenue,
        {{ to_reporting_currency('revenue.credit_note_revenue', 'rates.average_rate', 'rates.reporting_minor_unit') }} as credit_note_revenue_reporting,
        revenue.total_revenue,
        {{ to_reporting_currency('revenue.total_revenue', 'rates.average_rate', 'rates.reporting_minor_unit') }} as total_revenue_reporting
    from revenue
    inner join rates
        on revenue.month = rates.month
       and revenue.currency = rates.currency

)

select * from final
