-- Integrity: per currency and bucket, the summary adds up the invoices of ar_aging.
with detail as (
    select currency, aging_bucket, count(*) as invoices, sum(amount_outstanding) as amount
    from {{ ref('ar_aging') }} group by currency, aging_bucket
)
select summary.currency, summary.aging_bucket
from {{ ref('ar_aging_summary') }} as summary
full outer join detail on summary.currency = detail.currency and summary.aging_bucket = detail.aging_bucket
where coalesce(summary.invoice_count, 0) <> coalesce(detail.invoices, 0)
   or coalesce(summary.amount_outstanding, 0) <> coalesce(detail.amount, 0)
