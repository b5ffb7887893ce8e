-- SPEC §3 "Discounts" per month of invoice_date and invoicing currency, over live billing lines of included
-- invoices: list price = sum of subtotal; discounts = sum of (subtotal - adjusted_subtotal); credits applied
-- = sum of credits_applied; billed = sum of rounded_amount; plus the count of coupon redemptions (not
-- deleted) whose start_date (else created_at) falls in the month, in the currency of the redeeming
-- subscription's customer. subtotal, adjusted_subtotal and credits_applied are in the line's pricing
-- currency: each is taken into the invoicing currency with the line's conversion_rate (DECISIONLOG
-- "Discounts in the invoicing currency"). partially_invoiced (billed on earlier threshold invoices) and
-- rounding (rounded_amount - amount) complete the value ladder:
-- billed = list_price - discounts - credits_applied - partially_invoiced + rounding.
with invoice_lines as (

    select * from {{ ref('int_invoice_lines_included') }}

),

coupon_redemptions as (

    select * from {{ ref('stg_orb__coupon_redemption') }}

),

subscriptions as (

    select * from {{ ref('stg_orb__subscription') }}

),

customers as (

    select * from {{ ref('stg_orb__customer') }}

),

priced_lines as (

    select
        invoice_month as month,
        currency,
        subtotal,
        adjusted_subtotal,
        credits_applied,
        partially_invoiced_amount,
        amount,
        rounded_amount,
        -- (18, 6) x (19, 12) fits 38 digits: an exact product on both engines
        cast(coalesce(conversion_rate, 1) as decimal(19, 12)) as conversion_rate
    from invoice_lines

),

line_values as (

    select
        month,
        currency,
        {{ to_money('subtotal * conversion_rate') }} as list_price,
        {{ to_money('(subtotal - adjusted_subtotal) * conversion_rate') }} as discounts,
        {{ to_money('credits_applied * conversion_rate') }} as credits_applied,
        {{ to_money('coalesce(partially_invoiced_amount, 0)') }} as partially_invoiced,
        {{ to_money('rounded_amount - amount') }} as rounding,
        rounded_amount as billed,
        0 as coupon_redemption_count
    from priced_lines

),

redemptions as (

    select
        {{ to_month('coalesce(coupon_redemptions.start_date, coupon_redemptions.created_at)') }} as month,
        customers.currency,
        {{ to_money(0) }} as list_price,
        {{ to_money(0) }} as discounts,
        {{ to_money(0) }} as credits_applied,
        {{ to_money(0) }} as partially_invoiced,
        {{ to_money(0) }} as rounding,
        {{ to_money(0) }} as billed,
        1 as coupon_redemption_count
    from coupon_redemptions
    inner join subscriptions
        on coupon_redemptions.subscription_id = subscriptions.subscription_id
    inner join customers
        on subscriptions.customer_id = customers.customer_id
    where not coupon_redemptions.is_deleted
      and coalesce(coupon_redemptions.start_date, coupon_redemptions.created_at) is not null
      and customers.currency is not null

),

unioned as (

    select * from line_values
    union all
    select * from redemptions

),

final as (

    select
        month,
        currency,
        {{ to_money('sum(list_price)') }} as list_price,
        {{ to_money('sum(discounts)') }} as discounts,
        {{ to_money('sum(credits_applied)') }} as credits_applied,
        {{ to_money('sum(partially_invoiced)') }} as partially_invoiced,
        {{ to_money('sum(rounding)') }} as rounding,
        {{ to_money('sum(billed)') }} as billed,
        cast(sum(coupon_redemption_count) as bigint) as coupon_redemption_count
    from unioned
    group by month, currency

)

select * from final
