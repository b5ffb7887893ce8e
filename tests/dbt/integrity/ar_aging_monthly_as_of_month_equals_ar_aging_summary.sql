-- Integrity: ar_aging_monthly's rows of the as-of month (aged at the as-of date itself) equal
-- ar_aging_summary, bucket by bucket, and no month end ages after the as-of date.
with as_of_month as (
    select * from {{ ref('ar_aging_monthly') }}
    where month_end = (select max(month_end) from {{ ref('ar_aging_monthly') }})
)
select
    coalesce(monthly.currency, summary.currency) as currency,
    coalesce(monthly.aging_bucket, summary.aging_bucket) as aging_bucket,
    monthly.invoice_count as monthly_count, summary.invoice_count as summary_count,
    monthly.amount_outstanding as monthly_amount, summary.amount_outstanding as summary_amount
from as_of_month as monthly
full outer join {{ ref('ar_aging_summary') }} as summary
    on monthly.currency = summary.currency
   and monthly.aging_bucket = summary.aging_bucket
where monthly.currency is null
   or summary.currency is null
   or monthly.as_of_date <> summary.as_of_date
   or monthly.invoice_count <> summary.invoice_count
   or monthly.amount_outstanding <> summary.amount_outstanding

union all

select currency, aging_bucket, invoice_count, null, amount_outstanding, null
from {{ ref('ar_aging_monthly') }}
where as_of_date > {{ as_of_date() }}
   or as_of_date > month_end
