-- Coupon redemptions (not deleted) that discounts_monthly cannot place: no start_date or created_at, or no
-- currency through their subscription's customer. Listed as a warning rather than dropped silently.
{{ config(severity='warn', meta={'meaning': "coupon redemptions that discounts_monthly cannot place (no start date, or no currency through their subscription's customer): their coupon_redemption_count is missing from that mart; nothing else changes"}) }}
select
    coupon_redemptions.coupon_redemption_id,
    coupon_redemptions.subscription_id,
    subscriptions.customer_id,
    customers.currency
from {{ ref('stg_orb__coupon_redemption') }} as coupon_redemptions
left join {{ ref('stg_orb__subscription') }} as subscriptions
    on coupon_redemptions.subscription_id = subscriptions.subscription_id
left join {{ ref('stg_orb__customer') }} as customers
    on subscriptions.customer_id = customers.customer_id
where not coupon_redemptions.is_deleted
  and (coalesce(coupon_redemptions.start_date, coupon_redemptions.created_at) is null
       or customers.currency is null)
