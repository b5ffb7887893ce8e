-- SPEC §3 "Usage revenue" (current state), row by row: daily_line_item_revenue rows not reverted and not of
-- a credit-purchase invoice (the credits' revenue comes from the ledger). A view: int_revenue_usage_daily sums
-- it per day and customer, revenue_by_item_monthly per month and item, without a second copy of the rule or a
-- second table as large as the feed.
{{ config(materialized='view') }}

with daily_revenue as (

    select * from {{ ref('stg_orb__daily_line_item_revenue') }}

),

credit_purchase_invoices as (

    select * from {{ ref('int_invoices_credit_purchase') }}

),

final as (

    select
        daily_revenue.daily_line_item_revenue_id,
        daily_revenue.invoice_id,
        daily_revenue.customer_id,
        daily_revenue.item_id,
        daily_revenue.invoicing_currency as currency,
        cast(daily_revenue.timeframe_start as date) as revenue_date,
        daily_revenue.timeframe_start,
        daily_revenue.rounded_amount
    from daily_revenue
    left join credit_purchase_invoices
        on daily_revenue.invoice_id = credit_purchase_invoices.invoice_id
    where not daily_revenue.is_reverted
      and credit_purchase_invoices.invoice_id is null

)

select * from final
