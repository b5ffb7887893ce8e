-- Integrity: per currency, cash collected equals the Orb side of payment_reconciliation (the paid invoices'
-- succeeded attempts, or their amount_due when they have none) plus the succeeded attempts on invoices that are
-- not marked paid. Payment attempts and invoices are checked in their own currency.
with collected as (
    select currency, sum(cash_collected) as amount
    from {{ ref('collections_monthly') }}
    group by currency
),
reconciled as (
    select currency, sum(orb_amount_paid) as amount
    from {{ ref('payment_reconciliation') }}
    where orb_amount_paid is not null
    group by currency
),
other_attempts as (
    select attempts.currency, sum(attempts.amount) as amount
    from {{ ref('stg_orb__payment_attempt') }} as attempts
    left join {{ ref('stg_orb__invoice_metadata') }} as invoices
        on attempts.invoice_id = invoices.invoice_id
       and invoices.status = 'paid'
       and not invoices.is_deleted
    where attempts.succeeded
      and not attempts.is_deleted
      and invoices.invoice_id is null
    group by attempts.currency
),
currencies as (
    select currency from collected union select currency from reconciled union select currency from other_attempts
)
select currencies.currency, collected.amount as collected, reconciled.amount as reconciled,
       other_attempts.amount as other_attempts
from currencies
left join collected on currencies.currency = collected.currency
left join reconciled on currencies.currency = reconciled.currency
left join other_attempts on currencies.currency = other_attempts.currency
where coalesce(collected.amount, 0) <> coalesce(reconciled.amount, 0) + coalesce(other_attempts.amount, 0)
