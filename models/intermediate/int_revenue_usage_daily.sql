-- SPEC §3 "Usage revenue" (current state): the recognized daily revenue rows (int_daily_revenue_recognized: not
-- reverted, not of a credit-purchase invoice); day = date(timeframe_start); sum of rounded_amount; per customer
-- and currency. On DuckDB a night recomputes only the (day, customer) keys its staged rows can change
-- (macros/staging/orb_downstream.sql): every day and customer of a daily revenue row touched tonight (its new
-- and its old version), and of every daily revenue row of an invoice whose credit-purchase standing a ledger
-- entry touched tonight may have changed.
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='orb_affected_keys',
    on_schema_change='fail',
    pre_hook="{{ orb_affected_keys_prepare(usage_revenue_affected_keys()) }}",
    post_hook="{{ orb_affected_keys_record() }}"
) }}

with recognized as (

    select * from {{ ref('int_daily_revenue_recognized') }} as recognized_rows
    {%- if orb_downstream_mode() == 'incremental' %}
    where {{ orb_is_affected('recognized_rows') }}
      and recognized_rows.timeframe_start >= {{ orb_affected_since() }}
    {%- endif %}

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
