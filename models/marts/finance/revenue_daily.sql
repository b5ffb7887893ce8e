-- Recognized revenue per UTC day, currency and customer (SPEC §3, current state):
--   usage_revenue               "Usage revenue": daily line item revenue (not reverted, not credit purchases)
--   credit_consumption_revenue  "Credit revenue" of decrements and amendments (units x cost basis)
--   credit_breakage_revenue     "Credit revenue" of credit_block_expiry entries
--   credit_note_revenue         "Credit-note revenue (proration)": minus each day's share (<= 0)
-- On DuckDB a night recomputes only the (day, customer) keys its staged rows can change
-- (macros/staging/orb_affected_revenue_keys.sql, revenue_daily_affected_keys).
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='orb_affected_keys',
    on_schema_change='fail',
    pre_hook="{{ orb_affected_keys_prepare(revenue_daily_affected_keys()) }}",
    post_hook="{{ orb_affected_keys_record() }}"
) }}

{%- set incremental = orb_downstream_mode() == 'incremental' %}

with usage as (

    select * from {{ ref('int_revenue_usage_daily') }} as usage_rows
    {%- if incremental %} where {{ orb_is_affected('usage_rows') }}{% endif %}

),

credit_entries as (

    select * from {{ ref('int_credit_ledger_entries_valued') }} as entry_rows
    {%- if incremental %} where {{ orb_is_affected('entry_rows') }}{% endif %}

),

credit_note_days as (

    select * from {{ ref('int_credit_note_lines_prorated') }} as credit_note_rows
    {%- if incremental %} where {{ orb_is_affected('credit_note_rows', date_column='service_date') }}{% endif %}

),

unioned as (

    select
        revenue_date, currency, customer_id,
        usage_revenue,
        {{ to_money(0) }} as credit_consumption_revenue,
        {{ to_money(0) }} as credit_breakage_revenue,
        {{ to_money(0) }} as credit_note_revenue
    from usage

    union all

    select
        revenue_date, currency, customer_id,
        {{ to_money(0) }},
        case when revenue_kind = 'consumption' then revenue else {{ to_money(0) }} end,
        case when revenue_kind = 'breakage' then revenue else {{ to_money(0) }} end,
        {{ to_money(0) }}
    from credit_entries

    union all

    select
        service_date, currency, customer_id,
        {{ to_money(0) }}, {{ to_money(0) }}, {{ to_money(0) }},
        -prorated_amount
    from credit_note_days

),

summed as (

    select
        revenue_date,
        currency,
        customer_id,
        {{ to_money('sum(usage_revenue)') }} as usage_revenue,
        {{ to_money('sum(credit_consumption_revenue)') }} as credit_consumption_revenue,
        {{ to_money('sum(credit_breakage_revenue)') }} as credit_breakage_revenue,
        {{ to_money('sum(credit_note_revenue)') }} as credit_note_revenue
    from unioned
    group by revenue_date, currency, customer_id

),

final as (

    select
        *,
        {{ to_money('usage_revenue + credit_consumption_revenue + credit_breakage_revenue + credit_note_revenue') }}
            as total_revenue
    from summed

)

select * from final
