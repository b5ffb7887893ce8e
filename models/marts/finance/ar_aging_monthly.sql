-- SPEC §3 "Month-end AR": the AR aging rule applied with D = the last day of every month from the first
-- issued invoice to the month of as_of_date (in that month D = as_of_date, so it equals ar_aging_summary);
-- per month end, currency with open invoices and bucket, all five buckets for each such currency and month.
with aged as (

    select * from {{ ref('int_invoices_aged_at_month_ends') }}

),

buckets as (

    {{ aging_buckets() }}

),

currencies as (

    select distinct month_end, as_of_date, currency from aged

),

totals as (

    select
        month_end,
        currency,
        aging_bucket,
        count(*) as invoice_count,
        sum(amount_outstanding) as amount_outstanding
    from aged
    group by month_end, currency, aging_bucket

),

final as (

    select
        currencies.month_end,
        currencies.currency,
        buckets.aging_bucket,
        buckets.bucket_order,
        currencies.as_of_date,
        coalesce(totals.invoice_count, 0) as invoice_count,
        {{ to_money('coalesce(totals.amount_outstanding, 0)') }} as amount_outstanding
    from currencies
    cross join buckets
    left join totals
        on currencies.month_end = totals.month_end
       and currencies.currency = totals.currency
       and buckets.aging_bucket = totals.aging_bucket

)

select * from final
