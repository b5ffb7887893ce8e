-- Integrity: per month and currency, the items of revenue_by_item_monthly add up to revenue_monthly, measure
-- by measure (credit revenue = consumption + breakage).
with by_item as (
    select month, currency,
           sum(usage_revenue) as usage_revenue, sum(credit_revenue) as credit_revenue,
           sum(credit_note_revenue) as credit_note_revenue, sum(total_revenue) as total_revenue
    from {{ ref('revenue_by_item_monthly') }}
    group by month, currency
)
select
    coalesce(by_item.month, monthly.month) as month,
    coalesce(by_item.currency, monthly.currency) as currency,
    by_item.total_revenue as by_item_total,
    monthly.total_revenue as monthly_total
from by_item
full outer join {{ ref('revenue_monthly') }} as monthly
    on by_item.month = monthly.month
   and by_item.currency = monthly.currency
where coalesce(by_item.usage_revenue, 0) <> coalesce(monthly.usage_revenue, 0)
   or coalesce(by_item.credit_revenue, 0)
      <> coalesce(monthly.credit_consumption_revenue, 0) + coalesce(monthly.credit_breakage_revenue, 0)
   or coalesce(by_item.credit_note_revenue, 0) <> coalesce(monthly.credit_note_revenue, 0)
   or coalesce(by_item.total_revenue, 0) <> coalesce(monthly.total_revenue, 0)
