-- SPEC §3 "Credit note summary": live credit notes (not voided, not deleted) of included invoices, by
-- month of the credit note's created_at and the invoice's currency: count, sum of total, and the
-- distinct non-empty reasons, sorted, joined by ', '.
with credit_notes as (

    select * from {{ ref('stg_orb__credit_note') }}

),

invoices as (

    select * from {{ ref('int_invoices_included') }}

),

final as (

    select
        {{ to_month('credit_notes.created_at') }} as month,
        invoices.currency,
        count(*) as credit_note_count,
        {{ to_money('sum(credit_notes.total)') }} as total,
        {{ sorted_distinct_join('credit_notes.reason') }} as reasons
    from credit_notes
    inner join invoices
        on credit_notes.invoice_id = invoices.invoice_id
    where not credit_notes.is_deleted
      and not credit_notes.is_voided
    group by 1, 2

)

select * from final
