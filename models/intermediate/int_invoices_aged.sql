-- SPEC §3 "AR aging as of D" (dbt var as_of_date, default today in UTC) per open invoice: the rows of
-- int_invoices_aged_at_month_ends aged at D itself (the month of as_of_date), where the rule is written once.
with aged_at_month_ends as (

    select * from {{ ref('int_invoices_aged_at_month_ends') }}

),

final as (

    select
        as_of_date,
        invoice_id,
        invoice_number,
        customer_id,
        currency,
        invoice_date,
        due_date,
        amount_due,
        adjustment_credits,
        amount_outstanding,
        days_past_due,
        aging_bucket
    from aged_at_month_ends
    where as_of_date = {{ as_of_date() }}

)

select * from final
