-- SPEC §3 "AR aging as of D": one row per invoice open on the as-of date, with its bucket and the customer's name.
with aged as (

    select * from {{ ref('int_invoices_aged') }}

),

customers as (

    select * from {{ ref('stg_orb__customer') }}

),

final as (

    select
        aged.invoice_id,
        aged.as_of_date,
        aged.invoice_number,
        aged.customer_id,
        customers.name as customer_name,
        aged.currency,
        aged.invoice_date,
        aged.due_date,
        aged.days_past_due,
        aged.aging_bucket,
        aged.amount_due,
        aged.adjustment_credits,
        aged.amount_outstanding
    from aged
    left join customers
        on aged.customer_id = customers.customer_id

)

select * from final
