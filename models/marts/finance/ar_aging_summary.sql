-- SPEC §3 "AR aging" summarised: per currency with open invoices, all five buckets (empty ones at 0).
with aged as (

    select * from {{ ref('int_invoices_aged') }}

),

buckets as (

    {{ aging_buckets() }}

),

currencies as (

    select distinct as_of_date, currency from aged

),

totals as (

    select
        currency,
        aging_bucket,
        count(*) as invoice_count,
        sum(amount_outstanding) as amount_outstanding
    from aged
    group by currency, aging_bucket

),

final as (

    select
        currencies.currency,
        buckets.aging_bucket,
        buckets.bucket_order,
        currencies.as_of_date,
        coalesce(totals.invoice_count, 0) as invoice_count,
        {{ to_money('coalesce(totals.amount_outstanding, 0)') }} as amount_outstanding
    from currencies
    cross join buckets
    left join totals
        on currencies.currency = totals.currency
       and buckets.aging_bucket = totals.aging_bucket

)

select * from final
