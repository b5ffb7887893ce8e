-- SPEC §3 "Billings": per month of invoice_date and invoicing currency, over included invoices:
-- gross = sum of total; credit notes = sum of total of the invoices' live credit-note lines (in the
-- parent invoice's month); balance applied = customer balance applied to the invoices (+ decrement,
-- - increment); net = gross - credit notes - balance applied.
with invoices as (

    select * from {{ ref('int_invoices_included') }}

),

credit_note_lines as (

    select * from {{ ref('int_credit_note_lines_live') }}

),

balance_applied as (

    select * from {{ ref('int_invoice_balance_applied') }}

),

credit_notes_by_invoice as (

    select
        invoice_id,
        sum(total) as credit_notes
    from credit_note_lines
    group by invoice_id

),

per_invoice as (

    select
        invoices.invoice_month as month,
        invoices.currency,
        invoices.total,
        coalesce(credit_notes_by_invoice.credit_notes, 0) as credit_notes,
        coalesce(balance_applied.balance_applied, 0) as balance_applied
    from invoices
    left join credit_notes_by_invoice
        on invoices.invoice_id = credit_notes_by_invoice.invoice_id
    left join balance_applied
        on invoices.invoice_id = balance_applied.invoice_id

),

final as (

    select
        month,
        currency,
        count(*) as invoice_count,
        {{ to_money('sum(total)') }} as gross_billings,
        {{ to_money('sum(credit_notes)') }} as credit_notes,
        {{ to_money('sum(balance_applied)') }} as customer_balance_applied,
        {{ to_money('sum(total) - sum(credit_notes) - sum(balance_applied)') }} as net_billings
    from per_invoice
    group by month, currency

)

select * from final
