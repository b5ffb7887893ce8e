-- SPEC §3 "Live credit-note line": a credit_note_line_item not voided and not deleted, whose credit note
-- is not voided and not deleted; with its credit note's type, reason, number and creation time.
with lines as (

    select * from {{ ref('stg_orb__credit_note_line_item') }}

),

credit_notes as (

    select * from {{ ref('stg_orb__credit_note') }}

),

final as (

    select
        lines.credit_note_line_item_id,
        lines.credit_note_id,
        coalesce(lines.invoice_id, credit_notes.invoice_id) as invoice_id,
        lines.invoice_line_item_id,
        lines.item_id,
        lines.name,
        lines.quantity,
        lines.amount,
        lines.tax_amount,
        lines.total,
        lines.start_date,
        lines.end_date,
        credit_notes.credit_note_number,
        credit_notes.credit_note_type,
        credit_notes.reason,
        credit_notes.customer_id,
        credit_notes.created_at as credit_note_created_at
    from lines
    inner join credit_notes
        on lines.credit_note_id = credit_notes.credit_note_id
    where not lines.is_deleted
      and not lines.is_voided
      and not credit_notes.is_deleted
      and not credit_notes.is_voided

)

select * from final
