-- The billed lines of SPEC §3 "Deferred revenue roll-forward", "Discounts" and billings by "Item": live
-- invoice_line_item_billing rows (not voided) of included invoices, with the invoice's currency and month.
-- One row per invoice line.
with invoice_lines as (

    select * from {{ ref('stg_orb__invoice_line_item_billing') }}

),

invoices as (

    select * from {{ ref('int_invoices_included') }}

),

final as (

    select
        invoice_lines.invoice_line_item_id,
        invoice_lines.invoice_id,
        invoices.customer_id,
        invoices.currency,
        invoices.invoice_month,
        invoice_lines.item_id,
        invoice_lines.name,
        invoice_lines.quantity,
        invoice_lines.pricing_currency,
        invoice_lines.subtotal,
        invoice_lines.adjusted_subtotal,
        invoice_lines.credits_applied,
        invoice_lines.conversion_rate,
        invoice_lines.partially_invoiced_amount,
        invoice_lines.amount,
        invoice_lines.rounded_amount,
        invoice_lines.tax_amount,
        invoice_lines.total
    from invoice_lines
    inner join invoices
        on invoice_lines.invoice_id = invoices.invoice_id
    where not invoice_lines.is_voided

)

select * from final
