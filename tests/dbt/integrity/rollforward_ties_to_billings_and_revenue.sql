-- Integrity: per currency, the roll-forward's recognized total equals total revenue, and its billed total
-- equals the pre-tax amount of live lines of included invoices less live credit-note line amounts.
with roll as (
    select currency, sum(billed) as billed, sum(recognized) as recognized
    from {{ ref('deferred_revenue_rollforward') }} group by currency
),
revenue as (select currency, sum(total_revenue) as amount from {{ ref('revenue_monthly') }} group by currency),
lines as (
    select invoices.currency, sum(lines.rounded_amount) as amount
    from {{ ref('stg_orb__invoice_line_item_billing') }} as lines
    inner join {{ ref('int_invoices_included') }} as invoices on lines.invoice_id = invoices.invoice_id
    where not lines.is_voided
    group by invoices.currency
),
credits as (
    select invoices.currency, sum(lines.amount) as amount
    from {{ ref('int_credit_note_lines_live') }} as lines
    inner join {{ ref('int_invoices_included') }} as invoices on lines.invoice_id = invoices.invoice_id
    group by invoices.currency
)
select roll.currency, roll.billed, roll.recognized, revenue.amount as revenue, lines.amount as lines, credits.amount as credits
from roll
left join revenue on roll.currency = revenue.currency
left join lines on roll.currency = lines.currency
left join credits on roll.currency = credits.currency
where roll.recognized <> coalesce(revenue.amount, 0)
   or roll.billed <> coalesce(lines.amount, 0) - coalesce(credits.amount, 0)
