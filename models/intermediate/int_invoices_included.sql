-- SPEC §3 "Included invoice": in invoice_metadata, not deleted, status <> 'draft', voided_at null.
-- The invoices every billing, revenue and sync rule starts from.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

final as (

    select
        invoice_id,
        invoice_number,
        customer_id,
        subscription_id,
        status,
        invoice_source,
        invoicing_currency as currency,
        subtotal,
        total,
        amount_due,
        invoice_date,
        cast({{ dbt.date_trunc('month', 'invoice_date') }} as date) as invoice_month,
        due_date,
        issued_at,
        paid_at,
        created_at,
        memo
    from invoices
    where not is_deleted
      and status <> 'draft'
      and voided_at is null

)

select * from final
