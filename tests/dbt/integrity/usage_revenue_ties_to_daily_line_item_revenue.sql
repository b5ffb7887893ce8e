-- Integrity: per currency, usage revenue (daily and monthly marts) equals the current-state daily line
-- item revenue in staging, credit-purchase invoices left out.
with purchases as (
    select distinct invoice_id from {{ ref('stg_orb__credit_ledger_entry') }}
    where entry_type = 'increment' and invoice_id is not null
),
staged as (
    select revenue.invoicing_currency as currency, sum(revenue.rounded_amount) as amount
    from {{ ref('stg_orb__daily_line_item_revenue') }} as revenue
    where not revenue.is_reverted
      and revenue.invoice_id not in (select invoice_id from purchases)
    group by revenue.invoicing_currency
),
daily as (select currency, sum(usage_revenue) as amount from {{ ref('revenue_daily') }} group by currency),
monthly as (select currency, sum(usage_revenue) as amount from {{ ref('revenue_monthly') }} group by currency)
select coalesce(staged.currency, daily.currency, monthly.currency) as currency,
       staged.amount as staged_amount, daily.amount as daily_amount, monthly.amount as monthly_amount
from staged
full outer join daily on staged.currency = daily.currency
full outer join monthly on coalesce(staged.currency, daily.currency) = monthly.currency
where coalesce(staged.amount, 0) <> coalesce(daily.amount, 0)
   or coalesce(staged.amount, 0) <> coalesce(monthly.amount, 0)
