-- SPEC §3 "Reporting currency": the months each currency's amounts are converted in. Per currency, every month
-- from its first month in revenue_monthly, billings_monthly, deferred_revenue_rollforward or ar_aging_monthly
-- to the last month of any of them (a currency's balances carry on after its last activity, so the
-- consolidated month needs its rate). Empty without a reporting currency.
with revenue as (

    select * from {{ ref('revenue_monthly') }}

),

billings as (

    select * from {{ ref('billings_monthly') }}

),

rollforward as (

    select * from {{ ref('deferred_revenue_rollforward') }}

),

month_end_ar as (

    select * from {{ ref('ar_aging_monthly') }}

),

active_months as (

    select month, currency from revenue
    union
    select month, currency from billings
    union
    select month, currency from rollforward
    union
    select {{ to_month('month_end') }}, currency from month_end_ar

),

last_month as (

    select max(month) as month from active_months

),

bounds as (

    select
        active_months.currency,
        min(active_months.month) as first_month,
        {{ month_number('max(last_month.month)') }} - {{ month_number('min(active_months.month)') }} as month_span
    from active_months
    cross join last_month
    where {{ reporting_currency_sql() }} is not null
    group by active_months.currency

),

month_numbers as (

    {{ integers(3) }}

),

final as (

    select
        {{ add_months('month_numbers.n', 'bounds.first_month') }} as month,
        bounds.currency
    from bounds
    inner join month_numbers
        on month_numbers.n <= bounds.month_span

)

select * from final
