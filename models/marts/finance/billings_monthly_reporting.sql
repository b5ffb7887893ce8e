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
        {{- amounts_at_average_rate(['gross_billings', 'credit_notes', 'customer_balance_applied', 'net_billings'],
                                    'billings', 'rates') }}
    from billings
    inner join rates
        on billings.month = rates.month
       and billings.currency = rates.currency

)

select * from final
