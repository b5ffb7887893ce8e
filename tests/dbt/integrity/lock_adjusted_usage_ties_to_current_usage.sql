-- Integrity: over all time, lock-adjusted usage revenue (events, reverts negated) equals current-state
-- usage revenue per currency: locks move revenue between months, never create or lose it. A warning,
-- not an error: it holds when Orb's event feed and current-state feed are complete and consistent.
{{ config(severity='warn', meta={'meaning': "currencies whose lock-adjusted usage revenue (events) differs over all time from current-state usage revenue: Orb's event feed and current-state feed disagree (a missing or extra delivery); revenue_lock_adjusted_monthly is then off by the difference"}) }}
with lock_adjusted as (select currency, sum(usage_revenue) as amount from {{ ref('revenue_lock_adjusted_monthly') }} group by currency),
current_state as (select currency, sum(usage_revenue) as amount from {{ ref('revenue_monthly') }} group by currency)
select coalesce(lock_adjusted.currency, current_state.currency) as currency,
       lock_adjusted.amount as lock_adjusted_amount, current_state.amount as current_amount
from lock_adjusted
full outer join current_state on lock_adjusted.currency = current_state.currency
where coalesce(lock_adjusted.amount, 0) <> coalesce(current_state.amount, 0)
