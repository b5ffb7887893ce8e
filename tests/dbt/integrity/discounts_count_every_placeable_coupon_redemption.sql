-- Integrity: discounts_monthly counts every coupon redemption that is not deleted and has a month and a
-- currency (those that have not are listed by coupon_redemptions_have_a_month_and_currency).
with counted as (
    select sum(coupon_redemption_count) as redemptions from {{ ref('discounts_monthly') }}
),
placeable as (
    select count(*) as redemptions
    from {{ ref('stg_orb__coupon_redemption') }} as coupon_redemptions
    inner join {{ ref('stg_orb__subscription') }} as subscriptions
        on coupon_redemptions.subscription_id = subscriptions.subscription_id
    inner join {{ ref('stg_orb__customer') }} as customers
        on subscriptions.customer_id = customers.customer_id
    where not coupon_redemptions.is_deleted
      and coalesce(coupon_redemptions.start_date, coupon_redemptions.created_at) is not null
      and customers.currency is not null
)
select counted.redemptions as counted, placeable.redemptions as placeable
from counted
cross join placeable
where coalesce(counted.redemptions, 0) <> placeable.redemptions
