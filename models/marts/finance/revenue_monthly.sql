-- Recognized revenue per month and currency: revenue_daily summed by month (same measures, same rules).
with daily as (

    select * from {{ ref('revenue_daily') }}

),

final as (

    select
        {{ to_month('revenue_date') }} as month,
        currency,
        {{ to_money('sum(usage_revenue)') }} as usage_revenue,
        {{ to_money('sum(credit_consumption_revenue)') }} as credit_consumption_revenue,
        {{ to_money('sum(credit_breakage_revenue)') }} as credit_breakage_revenue,
        {{ to_money('sum(credit_note_revenue)') }} as credit_note_revenue,
        {{ to_money('sum(total_revenue)') }} as total_revenue
    from daily
    group by 1, 2

)

select * from final
