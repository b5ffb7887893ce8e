-- Revenue placed where Orb's accounting-period locks allow (SPEC §3 lock-adjusted rules), per UTC day,
-- currency and kind:
--   usage        daily_line_item_revenue_event, not of credit-purchase invoices: rounded_amount, negated
--                where is_revert, on date(lock_adjusted_timestamp);
--   credit       credit_ledger_entry_event: recognized_revenue_amount, negated where is_revert, on
--                date(lock_adjusted_timestamp), in the event's invoicing currency;
--   credit_note  prorated credit-note lines moved past the periods closed when the note was created (negative).
with usage_events as (

    select * from {{ ref('stg_orb__daily_line_item_revenue_event') }}

),

credit_events as (

    select * from {{ ref('stg_orb__credit_ledger_entry_event') }}

),

credit_purchase_invoices as (

    select * from {{ ref('int_invoices_credit_purchase') }}

),

credit_note_days as (

    select * from {{ ref('int_credit_note_lines_lock_adjusted') }}

),

usage as (

    select
        cast(usage_events.lock_adjusted_at as date) as recognized_date,
        usage_events.invoicing_currency as currency,
        'usage' as revenue_kind,
        {{ signed('usage_events.rounded_amount', 'usage_events.is_revert') }} as amount
    from usage_events
    left join credit_purchase_invoices
        on usage_events.invoice_id = credit_purchase_invoices.invoice_id
    where credit_purchase_invoices.invoice_id is null

),

credit as (

    select
        cast(lock_adjusted_at as date) as recognized_date,
        invoicing_currency as currency,
        'credit' as revenue_kind,
        {{ signed('coalesce(recognized_revenue_amount, 0)', 'is_revert') }} as amount
    from credit_events

),

credit_note as (

    select
        recognized_date,
        currency,
        'credit_note' as revenue_kind,
        -prorated_amount as amount
    from credit_note_days

),

unioned as (

    select * from usage
    union all
    select * from credit
    union all
    select * from credit_note

),

final as (

    select
        recognized_date,
        currency,
        revenue_kind,
        {{ to_money('sum(amount)') }} as amount,
        count(*) as row_count
    from unioned
    group by 1, 2, 3

)

select * from final
