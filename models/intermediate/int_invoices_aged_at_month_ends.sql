-- SPEC §3 "AR aging as of D", applied at every date D of int_ar_aging_dates ("Month-end AR"): invoices not
-- deleted, not draft, issued on or before D, not voided on or before D, not paid on or before D (by paid_at);
-- "on or before D" compares the UTC date of the timestamp with D. Outstanding = amount_due - total of the
-- invoice's adjustment credit notes not deleted, created on or before D and not voided on or before D.
-- Invoices with nothing outstanding are left out. days_past_due = D - date(due_date); buckets current (<= 0
-- or no due date), 1-30, 31-60, 61-90, 91+. One row per month end and open invoice; int_invoices_aged is the
-- as-of month's rows.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

credit_notes as (

    select * from {{ ref('stg_orb__credit_note') }}

),

aging_dates as (

    select * from {{ ref('int_ar_aging_dates') }}

),

open_invoices as (

    select
        invoices.*,
        aging_dates.month_end,
        aging_dates.as_of_date
    from invoices
    inner join aging_dates
        on cast(invoices.issued_at as date) <= aging_dates.as_of_date
    where not invoices.is_deleted
      and invoices.status <> 'draft'
      and (invoices.voided_at is null or cast(invoices.voided_at as date) > aging_dates.as_of_date)
      and (invoices.paid_at is null or cast(invoices.paid_at as date) > aging_dates.as_of_date)

),

adjustments as (

    select
        aging_dates.month_end,
        credit_notes.invoice_id,
        {{ to_money('sum(credit_notes.total)') }} as adjustment_credits
    from credit_notes
    inner join aging_dates
        on cast(credit_notes.created_at as date) <= aging_dates.as_of_date
    where credit_notes.credit_note_type = 'adjustment'
      and not credit_notes.is_deleted
      and (credit_notes.voided_at is null or cast(credit_notes.voided_at as date) > aging_dates.as_of_date)
    group by aging_dates.month_end, credit_notes.invoice_id

),

aged as (

    select
        open_invoices.month_end,
        open_invoices.as_of_date,
        open_invoices.invoice_id,
        open_invoices.invoice_number,
        open_invoices.customer_id,
        open_invoices.invoicing_currency as currency,
        cast(open_invoices.invoice_date as date) as invoice_date,
        cast(open_invoices.due_date as date) as due_date,
        {{ to_money('open_invoices.amount_due') }} as amount_due,
        {{ to_money('coalesce(adjustments.adjustment_credits, 0)') }} as adjustment_credits,
        {{ to_money('open_invoices.amount_due - coalesce(adjustments.adjustment_credits, 0)') }} as amount_outstanding,
        cast({{ dbt.datediff('cast(open_invoices.due_date as date)', 'open_invoices.as_of_date', 'day') }} as bigint) as days_past_due
    from open_invoices
    left join adjustments
        on open_invoices.month_end = adjustments.month_end
       and open_invoices.invoice_id = adjustments.invoice_id

),

final as (

    select
        *,
        case
            when days_past_due is null or days_past_due <= 0 then 'current'
            when days_past_due <= 30 then '1-30'
            when days_past_due <= 60 then '31-60'
            when days_past_due <= 90 then '61-90'
            else '91+'
        end as aging_bucket
    from aged
    where amount_outstanding > 0

)

select * from final
