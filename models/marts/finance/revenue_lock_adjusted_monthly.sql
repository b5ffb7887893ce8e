-- SPEC §3 lock-adjusted revenue per month and currency: "Lock-adjusted usage revenue",
-- "Lock-adjusted credit revenue" and credit-note revenue moved past closed periods
-- ("Accounting period locks"); see int_revenue_events_lock_adjusted.
with events as (

    select * from {{ ref('int_revenue_events_lock_adjusted') }}

),

summed as (

    select
        {{ to_month('recognized_date') }} as month,
        currency,
        {{ to_money("sum(case when revenue_kind = 'usage' then amount else 0 end)") }} as usage_revenue,
        {{ to_money("sum(case when revenue_kind = 'credit' then amount else 0 end)") }} as credit_revenue,
        {{ to_money("sum(case when revenue_kind = 'credit_note' then amount else 0 end)") }} as credit_note_revenue
    from events
    group by 1, 2

),

final as (

    select
        *,
        {{ to_money('usage_revenue + credit_revenue + credit_note_revenue') }} as total_revenue
    from summed

)

select * from final
