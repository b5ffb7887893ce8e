-- SPEC §3 "AR aging" summarised: per currency with open invoices, all five buckets (empty ones at 0).
with aged as (

    select * from {{ ref('int_invoices_aged') }}

),

{{ aging_bucket_totals('aged', ['currency']) }}

select * from final
