-- SPEC §5 accounting sync: payments of the invoices in sync_invoices. A payment is a succeeded
-- payment_attempt (not deleted), or, for an invoice marked paid with no succeeded attempt, one synthetic
-- payment of its amount_due on paid_at with the stable id `paid:<invoice_id>`. Zero payments are left
-- out (a $0 invoice is paid at issuance; there is nothing to record).
with invoices as (

    select * from {{ ref('sync_invoices') }}

),

attempts as (

    select * from {{ ref('stg_orb__payment_attempt') }}
    where succeeded
      and not is_deleted

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
        attempts.payment_provider,
        attempts.payment_provider_id
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
        invoices.amount_due as amount,
        coalesce(invoices.paid_at, invoices.issued_at) as paid_at,
        'marked_paid' as payment_source,
        cast(null as {{ dbt.type_string() }}) as payment_provider,
        cast(null as {{ dbt.type_string() }}) as payment_provider_id
    from invoices
    where (invoices.status = 'paid' or invoices.paid_at is not null)
      and not exists (
          select 1 from attempts where attempts.invoice_id = invoices.invoice_id
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
        payment_provider,
        payment_provider_id
    from unioned
    where amount <> 0

)

select * from final
