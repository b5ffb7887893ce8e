-- Integrity: per month and currency, billings_by_item_monthly's billed adds up to discounts_monthly's billed
-- (the same lines, by item); per currency, billed less credit notes over all months equals the deferred
-- revenue roll-forward's billed (which counts the credit notes in their own month instead).
with by_item as (
    select month, currency, sum(billed) as billed
    from {{ ref('billings_by_item_monthly') }}
    group by month, currency
),
monthly_mismatch as (
    select
        coalesce(by_item.month, discounts.month) as month,
        coalesce(by_item.currency, discounts.currency) as currency,
        by_item.billed as by_item_billed,
        discounts.billed as discounts_billed
    from by_item
    full outer join {{ ref('discounts_monthly') }} as discounts
        on by_item.month = discounts.month
       and by_item.currency = discounts.currency
    where coalesce(by_item.billed, 0) <> coalesce(discounts.billed, 0)
),
by_item_net as (
    select currency, sum(billed) - sum(credit_notes) as net
    from {{ ref('billings_by_item_monthly') }}
    group by currency
),
rollforward as (
    select currency, sum(billed) as billed
    from {{ ref('deferred_revenue_rollforward') }}
    group by currency
),
currency_mismatch as (
    select
        cast(null as date) as month,
        coalesce(by_item_net.currency, rollforward.currency) as currency,
        by_item_net.net as by_item_billed,
        rollforward.billed as discounts_billed
    from by_item_net
    full outer join rollforward
        on by_item_net.currency = rollforward.currency
    where coalesce(by_item_net.net, 0) <> coalesce(rollforward.billed, 0)
)
select * from monthly_mismatch
union all
select * from currency_mismatch
