-- Integrity: per currency, gross billings in the mart equal the total of included invoices in staging
-- (catches join fan-out and lost rows between staging and billings_monthly).
with staged as (
    select invoicing_currency as currency, sum(total) as amount
    from {{ ref('stg_orb__invoice_metadata') }}
    where not is_deleted and status <> 'draft' and voided_at is null
    group by invoicing_currency
),
mart as (
    select currency, sum(gross_billings) as amount, sum(invoice_count) as invoices
    from {{ ref('billings_monthly') }}
    group by currency
)
select coalesce(staged.currency, mart.currency) as currency, staged.amount as staged_amount, mart.amount as mart_amount
from staged
full outer join mart on staged.currency = mart.currency
where coalesce(staged.amount, 0) <> coalesce(mart.amount, 0)
