-- Integrity: every measure of revenue_monthly is the sum of revenue_daily over the month.
with daily as (
    select {{ to_month('revenue_date') }} as month, currency,
           sum(usage_revenue) as usage_revenue, sum(credit_consumption_revenue) as consumption,
           sum(credit_breakage_revenue) as breakage, sum(credit_note_revenue) as credit_notes,
           sum(total_revenue) as total
    from {{ ref('revenue_daily') }}
    group by 1, 2
)
select coalesce(daily.month, monthly.month) as month, coalesce(daily.currency, monthly.currency) as currency
from daily
full outer join {{ ref('revenue_monthly') }} as monthly
    on daily.month = monthly.month and daily.currency = monthly.currency
where coalesce(daily.usage_revenue, 0) <> coalesce(monthly.usage_revenue, 0)
   or coalesce(daily.consumption, 0) <> coalesce(monthly.credit_consumption_revenue, 0)
   or coalesce(daily.breakage, 0) <> coalesce(monthly.credit_breakage_revenue, 0)
   or coalesce(daily.credit_notes, 0) <> coalesce(monthly.credit_note_revenue, 0)
   or coalesce(daily.total, 0) <> coalesce(monthly.total_revenue, 0)
