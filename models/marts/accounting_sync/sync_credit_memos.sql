-- SPEC §5 accounting sync: credit notes of the invoices in sync_invoices, live or not. A live one (SPEC §3
-- "live credit-note line" rule, via int_credit_note_lines_live) of a non-voided invoice is sent as a credit
-- memo; one voided or deleted in Orb, or whose invoice was voided, carries removed_at so the sync deletes
-- the memo in the provider. Amounts are the sums of the live lines (what the memo books).
-- credit_target (SPEC §5.1, DECISIONLOG "Books that tie out"): where the memo's total is credited: the
-- receivable for an adjustment on an invoice not yet paid when the note was created (what AR aging
-- subtracts); else the customer-balance liability when Orb put the credit in the customer's balance (a live
-- credit_note_applied balance transaction for the note); else cash (a refund paid out).
with credit_notes as (

    select * from {{ ref('stg_orb__credit_note') }}

),

invoices as (

    select * from {{ ref('sync_invoices') }}

),

balance_credits as (

    select
        credit_note_id,
        cast(count(*) as integer) as balance_transaction_count
    from {{ ref('stg_orb__customer_balance_transaction') }}
    where not is_deleted
      and action = 'credit_note_applied'
      and credit_note_id is not null
    group by credit_note_id

),

live_lines as (

    select
        credit_note_id,
        {{ to_money("sum(amount)") }} as amount,
        {{ to_money("sum(coalesce(tax_amount, 0))") }} as tax_amount,
        cast(count(*) as integer) as line_count
    from {{ ref('int_credit_note_lines_live') }}
    group by credit_note_id

),

final as (

    select
        credit_notes.credit_note_id,
        credit_notes.credit_note_number,
        credit_notes.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.currency,
        credit_notes.credit_note_type,
        credit_notes.reason,
        credit_notes.memo,
        coalesce(credit_notes.created_at, credit_notes.updated_at) as created_at,
        cast(coalesce(credit_notes.created_at, credit_notes.updated_at) as date) as credit_note_date,
        coalesce(live_lines.amount, {{ to_money("0") }}) as amount,
        coalesce(live_lines.tax_amount, {{ to_money("0") }}) as tax_amount,
        {{ to_money("coalesce(live_lines.amount, 0) + coalesce(live_lines.tax_amount, 0)") }} as total,
        coalesce(live_lines.line_count, 0) as line_count,
        credit_notes.voided_at,
        credit_notes.deleted_at,
        credit_notes.is_voided,
        credit_notes.is_deleted,
        invoices.is_voided as is_invoice_voided,
        coalesce(credit_notes.voided_at, credit_notes.deleted_at, invoices.voided_at) as removed_at,
        not credit_notes.is_voided
            and not credit_notes.is_deleted
            and not invoices.is_voided
            and live_lines.credit_note_id is not null as is_live,
        case
            when credit_notes.credit_note_type = 'adjustment'
                 and (invoices.paid_at is null
                      or invoices.paid_at > coalesce(credit_notes.created_at, credit_notes.updated_at))
                then 'receivable'
            when balance_credits.credit_note_id is not null then 'customer_balance'
            else 'cash'
        end as credit_target
    from credit_notes
    inner join invoices
        on credit_notes.invoice_id = invoices.invoice_id
    left join live_lines
        on credit_notes.credit_note_id = live_lines.credit_note_id
    left join balance_credits
        on credit_notes.credit_note_id = balance_credits.credit_note_id

)

select * from final
