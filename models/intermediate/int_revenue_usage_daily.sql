-- SPEC §3 "Usage revenue" (current state): daily_line_item_revenue rows not reverted and not of a
-- credit-purchase invoice; day = date(timeframe_start); sum of rounded_amount; per customer, currency and
-- item (SPEC §3 "Item": the row's item_id, null when it has none).
with daily_revenue as (

    select * from {{ ref('stg_orb__daily_line_item_revenue') }}

),

credit_purchase_invoices as (

    select * from {{ ref('int_invoices_credit_purchase') }}

),

final as (

    select
        cast(daily_revenue.timeframe_start as date) as revenue_date,
        daily_revenue.invoicing_currency as currency,
        daily_revenue.customer_id,
        daily_revenue.item_id,
        {{ to_money('sum(daily_revenue.rounded_amount)') }} as usage_revenue
    from daily_revenue
    left join credit_purchase_invoices
        on daily_revenue.invoice_id = credit_purchase_invoices.invoice_id
    where not daily_revenue.is_reverted
      and credit_purchase_invoices.invoice_id is null
    group by 1, 2, 3, 4

)

select * from final
