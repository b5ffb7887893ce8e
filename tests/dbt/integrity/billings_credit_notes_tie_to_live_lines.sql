-- Integrity: per currency, credit notes in billings equal the total of live credit-note lines of
-- included invoices in staging.
with lines as (
    select lines.credit_note_line_item_id, lines.total, invoices.invoicing_currency as currency
    from {{ ref('stg_orb__credit_note_line_item') }} as lines
    inner join {{ ref('stg_orb__credit_note') }} as notes on lines.credit_note_id = notes.credit_note_id
    inner join {{ ref('stg_orb__invoice_metadata') }} as invoices
        on coalesce(lines.invoice_id, notes.invoice_id) = invoices.invoice_id
    where not lines.is_deleted and not lines.is_voided and not notes.is_deleted and not notes.is_voided
      and not invoices.is_deleted and invoices.status <> 'draft' and invoices.voided_at is null
),
staged as (select currency, sum(total) as amount from lines group by currency),
mart as (select currency, sum(credit_notes) as amount from {{ ref('billings_monthly') }} group by currency)
select coalesce(staged.currency, mart.currency) as currency, staged.amount as staged_amount, mart.amount as mart_amount
from staged
full outer join mart on staged.currency = mart.currency
where coalesce(staged.amount, 0) <> coalesce(mart.amount, 0)
