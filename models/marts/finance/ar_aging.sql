-- SPEC §3 "AR aging as of D": one row per invoice open on the as-of date, with its bucket.
with aged as (

    select * from {{ ref('int_invoices_aged') }}

),

final as (

    select
        invoice_id,
        as_of_date,
        invoice_number,
        customer_id,
        currency,
        invoice_date,
        due_date,
        days_past_due,
        aging_bucket,
        amount_due,
        adjustment_credits,
        amount_outstanding
    from aged

)

select * from final
