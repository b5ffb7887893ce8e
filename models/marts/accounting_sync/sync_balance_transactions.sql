-- SPEC §5.1 accounting sync, "every other movement of Orb's customer balance as its own entry": one row per
-- customer_balance_transaction (deleted ones too, flagged, so a booked entry can be reversed), with the part of
-- its change that a synced document already books (explained_amount) and the part booked as its own entry
-- (amount_to_book, against contra_account). What explains what (DECISIONLOG "Books that tie out"):
--   applied_to_invoice on an invoice of sync_invoices       -> the invoice (it books total - amount_due)
--   return_from_voiding on a voided invoice                 -> the void, up to the balance the invoice consumed
--   credit_note_applied / credit_note_voided on a memo
--     whose credit_target is customer_balance               -> the memo / its deletion
--   small_invoice_carryover on an invoice settled from
--     the customer balance (sync_payments)                  -> that payment
-- Everything else (manual adjustments, external payments, overpayment refunds, prorated refunds, the part of a
-- return beyond the consumed balance...) is booked as its own entry. Positive balance_change = Orb owes the
-- customer more (an increment).
with transactions as (

    select * from {{ ref('stg_orb__customer_balance_transaction') }}

),

invoices as (

    select * from {{ ref('sync_invoices') }}

),

memos as (

    select * from {{ ref('sync_credit_memos') }}

),

balance_payments as (

    select invoice_id, payment_id
    from {{ ref('sync_payments') }}
    where settled_from = 'customer_balance'

),

changes as (

    select
        transactions.*,
        {{ to_money("case when transactions.transaction_type = 'increment' then transactions.amount else -transactions.amount end") }}
            as balance_change
    from transactions

),

returns_ranked as (

    -- returns of a voided invoice, in order, with what earlier returns already gave back
    select
        changes.customer_balance_transaction_id,
        invoices.customer_balance_applied as consumed,
        {{ to_money("coalesce(sum(changes.balance_change) over (
            partition by changes.invoice_id
            order by changes.created_at, changes.customer_balance_transaction_id
            rows between unbounded preceding and 1 preceding), 0)") }} as returned_before
    from changes
    inner join invoices
        on changes.invoice_id = invoices.invoice_id
    where changes.action = 'return_from_voiding'
      and not changes.is_deleted
      and invoices.is_voided

),

explained as (

    select
        changes.customer_balance_transaction_id,
        case
            when changes.is_deleted then null
            when changes.action = 'applied_to_invoice' and invoices.invoice_id is not null then 'invoice'
            when returns_ranked.customer_balance_transaction_id is not null
                 and returns_ranked.consumed > returns_ranked.returned_before
                 and changes.balance_change > 0 then 'invoice'
            when changes.action in ('credit_note_applied', 'credit_note_voided')
                 and memos.credit_target = 'customer_balance' then 'credit_memo'
            when changes.action = 'small_invoice_carryover' and balance_payments.payment_id is not null then 'payment'
        end as explained_by,
        case
            when changes.action = 'applied_to_invoice' then changes.invoice_id
            when changes.action = 'return_from_voiding' then changes.invoice_id
            when changes.action in ('credit_note_applied', 'credit_note_voided') then changes.credit_note_id
            when changes.action = 'small_invoice_carryover' then balance_payments.payment_id
        end as explaining_id,
        case
            when returns_ranked.customer_balance_transaction_id is not null and changes.balance_change > 0
                then {{ to_money("case when returns_ranked.consumed - returns_ranked.returned_before > changes.balance_change
                                       then changes.balance_change
                                       when returns_ranked.consumed > returns_ranked.returned_before
                                       then returns_ranked.consumed - returns_ranked.returned_before
                                       else 0 end") }}
            else changes.balance_change
        end as explained_part
    from changes
    left join invoices
        on changes.invoice_id = invoices.invoice_id
    left join returns_ranked
        on changes.customer_balance_transaction_id = returns_ranked.customer_balance_transaction_id
    left join memos
        on changes.credit_note_id = memos.credit_note_id
    left join balance_payments
        on changes.invoice_id = balance_payments.invoice_id

),

final as (

    select
        changes.customer_balance_transaction_id as balance_transaction_id,
        changes.customer_id,
        changes.currency,
        changes.created_at,
        cast(coalesce(changes.created_at, changes.updated_at) as date) as transaction_date,
        changes.action,
        changes.transaction_type,
        {{ to_money("changes.amount") }} as amount,
        changes.balance_change,
        changes.invoice_id,
        changes.credit_note_id,
        changes.description,
        changes.is_deleted,
        explained.explained_by,
        case when explained.explained_by is not null then explained.explaining_id end as explaining_id,
        {{ to_money("case when explained.explained_by is not null then explained.explained_part else 0 end") }}
            as explained_amount,
        {{ to_money("changes.balance_change - case when explained.explained_by is not null
                                                   then explained.explained_part else 0 end") }} as amount_to_book,
        case
            when changes.action in ('external_payment', 'overpayment_refund', 'return_from_voiding') then 'cash'
            else 'adjustments'
        end as contra_account
    from changes
    inner join explained
        on changes.customer_balance_transaction_id = explained.customer_balance_transaction_id

)

select * from final
