-- SPEC §3 "Item" applied to recognized revenue (the rules of revenue_monthly), per month, currency and item:
--   usage_revenue        "Usage revenue" (int_daily_revenue_recognized), by the daily revenue row's item_id;
--   credit_revenue       "Credit revenue" (consumption and breakage) from the credit ledger: item '(prepaid credits)';
--   credit_note_revenue  "Credit-note revenue (proration)", by the credit-note line's item_id (<= 0);
-- rows without an item go to item '(none)', so the items of a month and currency add up to revenue_monthly.
-- item_name is the item's current name.
with usage as (

    select * from {{ ref('int_daily_revenue_recognized') }}

),

credit_entries as (

    select * from {{ ref('int_credit_ledger_entries_valued') }}

),

credit_note_days as (

    select * from {{ ref('int_credit_note_lines_prorated') }}

),

items as (

    select * from {{ ref('stg_orb__item') }}

),

unioned as (

    select
        {{ to_month('revenue_date') }} as month,
        currency,
        coalesce(item_id, '(none)') as item_id,
        rounded_amount as usage_revenue,
        {{ to_money(0) }} as credit_revenue,
        {{ to_money(0) }} as credit_note_revenue
    from usage

    union all

    select
        {{ to_month('revenue_date') }},
        currency,
        '(prepaid credits)',
        {{ to_money(0) }},
        revenue,
        {{ to_money(0) }}
    from credit_entries

    union all

    select
        {{ to_month('service_date') }},
        currency,
        coalesce(item_id, '(none)'),
        {{ to_money(0) }},
        {{ to_money(0) }},
        -prorated_amount
    from credit_note_days

),

summed as (

    select
        month,
        currency,
        item_id,
        {{ to_money('sum(usage_revenue)') }} as usage_revenue,
        {{ to_money('sum(credit_revenue)') }} as credit_revenue,
        {{ to_money('sum(credit_note_revenue)') }} as credit_note_revenue
    from unioned
    group by month, currency, item_id

),

final as (

    select
        summed.month,
        summed.currency,
        summed.item_id,
        case
            when summed.item_id in ('(none)', '(prepaid credits)') then summed.item_id
            else items.name
        end as item_name,
        summed.usage_revenue,
        summed.credit_revenue,
        summed.credit_note_revenue,
        {{ to_money('summed.usage_revenue + summed.credit_revenue + summed.credit_note_revenue') }} as total_revenue
    from summed
    left join items
        on summed.item_id = items.item_id

)

select * from final
