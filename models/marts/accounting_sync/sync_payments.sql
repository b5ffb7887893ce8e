-- SPEC §5 accounting sync: payments of the invoices in sync_invoices. A payment is a succeeded payment_attempt,
-- or, for an invoice marked paid with no succeeded attempt, one synthetic payment with the stable id
-- `paid:<invoice_id>` on paid_at of what the invoice still owed then: amount_due less its adjustment credit
-- notes booked to the receivable (SPEC §5.1; Orb's own amount_due goes down with such a note, the export's
-- does not, see DECISIONLOG "Books that tie out"). A marked-paid invoice that Orb settled by carrying it into
-- the customer's balance (a live small_invoice_carryover) is settled from the customer balance, not cash.
-- Zero payments are left out. Rows stay after their attempt is deleted or their invoice voided (is_live
-- false), so the sync reverses a payment it booked.
with invoices as (

    select * from {{ ref('sync_invoices') }}

),

attempts as (

    select * from {{ ref('stg_orb__payment_attempt') }}
    where succeeded

),

live_attempts as (

    select * from attempts
    where not is_deleted

),

receivable_credits as (

    select
        memos.invoice_id,
        {{ to_money("sum(memos.total)") }} as credited
    from {{ ref('sync_credit_memos') }} as memos
    inner join invoices
        on memos.invoice_id = invoices.invoice_id
    where memos.is_live
      and memos.credit_target = 'receivable'
      and (invoices.paid_at is null or memos.created_at < invoices.paid_at)
    group by memos.invoice_id

),

carried_over as (

    select distinct invoice_id
    from {{ ref('stg_orb__customer_balance_transaction') }}
    where not is_deleted
      and action = 'small_invoice_carryover'
      and invoice_id is not null

),

from_attempts as (

    select
        attempts.payment_attempt_id as payment_id,
        attempts.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.currency,
        {{ to_money("attempts.amount") }} as amount,
        coalesce(attempts.created_at, invoices.paid_at, attempts.updated_at) as paid_at,
        'payment_attempt' as payment_source,
        'cash' as settled_from,
        attempts.payment_provider,
        attempts.payment_provider_id,
        not attempts.is_deleted and not invoices.is_voided as is_live
    from attempts
    inner join invoices
        on attempts.invoice_id = invoices.invoice_id

),

marked_paid as (

    select
        {{ dbt.concat(["'paid:'", "invoices.invoice_id"]) }} as payment_id,
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.currency,
        {{ to_money("invoices.amount_due - coalesce(receivable_credits.credited, 0)") }} as amount,
        coalesce(invoices.paid_at, invoices.issued_at) as paid_at,
        'marked_paid' as payment_source,
        case when carried_over.invoice_id is not null then 'customer_balance' else 'cash' end as settled_from,
        cast(null as {{ dbt.type_string() }}) as payment_provider,
        cast(null as {{ dbt.type_string() }}) as payment_provider_id,
        not invoices.is_voided as is_live
    from invoices
    left join receivable_credits
        on invoices.invoice_id = receivable_credits.invoice_id
    left join carried_over
        on invoices.invoice_id = carried_over.invoice_id
    where (invoices.status = 'paid' or invoices.paid_at is not null)
      and not exists (
          select 1 from live_attempts where live_attempts.invoice_id = invoices.invoice_id
      )

),

unioned as (

    select * from from_attempts
    union all
    select * from marked_paid

),

final as (

    select
        payment_id,
        invoice_id,
        invoice_number,
        customer_id,
        currency,
        amount,
        paid_at,
        cast(paid_at as date) as payment_date,
        payment_source,
        settled_from,
        payment_provider,
        payment_provider_id,
        is_live
    from unioned
    where amount <> 0

)

select * from final
