-- SPEC §3 "Month-end AR": the AR aging rule applied with D = the last day of every month from the first
-- issued invoice to the month of as_of_date (in that month D = as_of_date, so it equals ar_aging_summary);
-- per month end, currency with open invoices and bucket, all five buckets for each such currency and month.
with aged as (

    select * from {{ ref('int_invoices_aged_at_month_ends') }}

),

{{ aging_bucket_totals('aged', ['month_end', 'currency']) }}

select * from final
