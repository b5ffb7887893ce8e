-- SPEC §3 "Reporting currency": the company in one currency, per month. Every amount is converted per month
-- and currency and rounded to the reporting currency's minor unit, then the rounded rows are summed:
--   net_billings              billings_monthly_reporting.net_billings_reporting (average rate);
--   total_revenue             revenue_monthly_reporting.total_revenue_reporting (average rate);
--   deferred_revenue_closing  deferred_revenue_rollforward.closing_balance at the closing rate of the month's
--                             last day (a currency's last closing balance carries on after its last activity);
--   ar_outstanding            ar_aging_monthly's amount outstanding at the rate of its date D (the month end,
--                             or as_of_date in its own month); null after the month of as_of_date.
-- One row for every month from the first to the last month converted (no gaps). Empty without a reporting
-- currency.
with revenue as (

    select * from {{ ref('revenue_monthly_reporting') }}

),

billings as (

    select * from {{ ref('billings_monthly_reporting') }}

),

rollforward as (

    select * from {{ ref('deferred_revenue_rollforward') }}

),

month_end_ar as (

    select * from {{ ref('ar_aging_monthly') }}

),

monthly_rates as (

    select * from {{ ref('int_fx_rates_monthly') }}

),

daily_rates as (

    select * from {{ ref('int_fx_rates_daily') }}

),

deferred_balances as (

    -- each month a currency is converted in, with its latest closing balance on or before that month
    select
        monthly_rates.month,
        monthly_rates.currency,
        monthly_rates.closing_rate,
        monthly_rates.reporting_minor_unit,
        rollforward.closing_balance,
        row_number() over (
            partition by monthly_rates.month, monthly_rates.currency order by rollforward.month desc
        ) as recency
    from monthly_rates
    inner join rollforward
        on monthly_rates.currency = rollforward.currency
       and rollforward.month <= monthly_rates.month

),

deferred_converted as (

    select
        month,
        {{ to_reporting_currency('closing_balance', 'closing_rate', 'reporting_minor_unit') }} as deferred_revenue_closing
    from deferred_balances
    where recency = 1

),

ar_by_currency as (

    select
        {{ to_month('month_end') }} as month,
        as_of_date,
        currency,
        sum(amount_outstanding) as amount_outstanding
    from month_end_ar
    group by month_end, as_of_date, currency

),

ar_converted as (

    select
        ar_by_currency.month,
        {{ to_reporting_currency('ar_by_currency.amount_outstanding', 'daily_rates.rate', 'monthly_rates.reporting_minor_unit') }}
            as ar_outstanding
    from ar_by_currency
    inner join daily_rates
        on ar_by_currency.currency = daily_rates.currency
       and ar_by_currency.as_of_date = daily_rates.rate_date
    inner join monthly_rates
        on ar_by_currency.month = monthly_rates.month
       and ar_by_currency.currency = monthly_rates.currency

),

months as (

    select distinct month, reporting_currency from monthly_rates

),

revenue_by_month as (

    select month, sum(total_revenue_reporting) as total_revenue from revenue group by month

),

billings_by_month as (

    select month, sum(net_billings_reporting) as net_billings from billings group by month

),

deferred_by_month as (

    select month, sum(deferred_revenue_closing) as deferred_revenue_closing from deferred_converted group by month

),

ar_by_month as (

    select month, sum(ar_outstanding) as ar_outstanding from ar_converted group by month

),

final as (

    select
        months.month,
        months.reporting_currency,
        {{ to_money('coalesce(billings_by_month.net_billings, 0)') }} as net_billings,
        {{ to_money('coalesce(revenue_by_month.total_revenue, 0)') }} as total_revenue,
        {{ to_money('coalesce(deferred_by_month.deferred_revenue_closing, 0)') }} as deferred_revenue_closing,
        case
            when months.month <= {{ to_month(as_of_date()) }}
                then {{ to_money('coalesce(ar_by_month.ar_outstanding, 0)') }}
        end as ar_outstanding
    from months
    left join billings_by_month
        on months.month = billings_by_month.month
    left join revenue_by_month
        on months.month = revenue_by_month.month
    left join deferred_by_month
        on months.month = deferred_by_month.month
    left join ar_by_month
        on months.month = ar_by_month.month

)

select * from final
