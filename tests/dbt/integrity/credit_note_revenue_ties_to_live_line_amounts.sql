-- Integrity: per currency, the prorated credit-note revenue adds up exactly to minus the pre-tax amount
-- of the live credit-note lines of included invoices (proration loses and invents nothing), in both the
-- current-state and the lock-adjusted marts.
with lines as (
    select invoices.currency, sum(lines.amount) as amount
    from {{ ref('int_credit_note_lines_live') }} as lines
    inner join {{ ref('int_invoices_included') }} as invoices on lines.invoice_id = invoices.invoice_id
    group by invoices.currency
),
current_state as (select currency, sum(credit_note_revenue) as amount from {{ ref('revenue_monthly') }} group by currency),
lock_adjusted as (select currency, sum(credit_note_revenue) as amount from {{ ref('revenue_lock_adjusted_monthly') }} group by currency)
select coalesce(lines.currency, current_state.currency, lock_adjusted.currency) as currency,
       lines.amount as line_amount, current_state.amount as revenue, lock_adjusted.amount as lock_adjusted_revenue
from lines
full outer join current_state on lines.currency = current_state.currency
full outer join lock_adjusted on coalesce(lines.currency, current_state.currency) = lock_adjusted.currency
where -coalesce(lines.amount, 0) <> coalesce(current_state.amount, 0)
   or -coalesce(lines.amount, 0) <> coalesce(lock_adjusted.amount, 0)
