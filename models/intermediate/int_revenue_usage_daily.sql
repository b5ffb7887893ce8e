-- SPEC §3 "Usage revenue" (current state): the recognized daily revenue rows (int_daily_revenue_recognized:
-- not reverted, not of a credit-purchase invoice); day = date(timeframe_start); sum of rounded_amount; per
-- customer and currency.
with recognized as (

    select * from {{ ref('int_daily_revenue_recognized') }}

),

final as (

    select
        revenue_date,
        currency,
        customer_id,
        {{ to_money('sum(rounded_amount)') }} as usage_revenue
    from recognized
    group by revenue_date, currency, customer_id

)

select * from final
