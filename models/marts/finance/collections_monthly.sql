-- SPEC §3 "Cash collected" per month and currency: sum of amount of succeeded, not deleted payment attempts,
-- in the month of the attempt's created_at (else its updated_at) and its currency; plus amount_due of
-- invoices with status 'paid', not deleted and with no succeeded attempt (marked paid), in the month of
-- paid_at (else updated_at) and the invoice's currency. payment_count counts both kinds; a marked-paid
-- invoice with nothing due is no payment (DECISIONLOG "Cash collected"). Months without collections in a
-- currency have no row.
with attempts as (

    select * from {{ ref('stg_orb__payment_attempt') }}

),

invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

succeeded_attempts as (

    select
        {{ to_month('coalesce(created_at, updated_at)') }} as month,
        currency,
        invoice_id,
        amount
    from attempts
    where succeeded
      and not is_deleted

),

marked_paid as (

    select
        {{ to_month('coalesce(invoices.paid_at, invoices.updated_at)') }} as month,
        invoices.invoicing_currency as currency,
        invoices.invoice_id,
        invoices.amount_due as amount
    from invoices
    left join (select distinct invoice_id from succeeded_attempts) as paid_by_attempt
        on invoices.invoice_id = paid_by_attempt.invoice_id
    where invoices.status = 'paid'
      and not invoices.is_deleted
      and paid_by_attempt.invoice_id is null
      and invoices.amount_due <> 0

),

payments as (

    select month, currency, amount from succeeded_attempts
    union all
    select month, currency, amount from marked_paid

),

final as (

    select
        month,
        currency,
        {{ to_money('sum(amount)') }} as cash_collected,
        count(*) as payment_count
    from payments
    group by month, currency

)

select * from final
