-- SPEC §3 "Reporting currency" applied to billings_monthly: each month and currency's billings converted at
-- the month's average rate, each amount rounded per row to the reporting currency's minor unit (half away
-- from zero). Built only when the dbt var reporting_currency is set; empty otherwise.
with billings as (

    select * from {{ ref('billings_monthly') }}

),

rates as (

    select * from {{ ref('int_fx_rates_monthly') }}

),

final as (

    select
        billings.month,
        billings.currency,
        rates.reporting_currency,
        rates.average_rate,
        billings.invoice_count,
        billings.gross_billings,
        {{ to_reporting_currency('billings.gross_billings', 'rates.average_rate', 'rates.reporting_minor_unit') }} as gross_billings_reporting,
        billings.credit_notes,
        {{ to_reporting_currency('billings.credit_notes', 'rates.average_rate', 'rates.reporting_minor_unit') }} as credit_notes_reporting,
        billings.customer_balance_applied,
        {{ to_reporting_currency('billings.customer_balance_applied', 'rates.average_rate', 'rates.reporting_minor_unit') }} as customer_balance_applied_reporting,
        billings.net_billings,
        {{ to_reporting_currency('billings.net_billings', 'rates.average_rate', 'rates.reporting_minor_unit') }} as net_billings_reporting
    from billings
    inner join rates
        on billings.month = rates.month
       and billings.currency = rates.currency

)

select * from final
