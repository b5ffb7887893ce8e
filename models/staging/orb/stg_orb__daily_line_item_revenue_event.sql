-- Orb `daily_line_item_revenue_event`: every event once (SPEC §2.2 rule 3); a revert is its own row with is_revert = true.
{{ config(unique_key='event_id') }}

with source as (

    select * from {{ source('orb', 'daily_line_item_revenue_event') }}

),

typed as (

    select
        {{ orb_id('id') }}                                            as event_id,
        {{ orb_timestamp('created_at') }}                             as created_at,
        {{ orb_timestamp('updated_at', required=true) }}              as updated_at,
        {{ orb_string('invoice_id') }}                                as invoice_id,
        {{ orb_string('invoice_line_item_id') }}                      as invoice_line_item_id,
        {{ orb_string('customer_id') }}                               as customer_id,
        {{ orb_string('subscription_id') }}                           as subscription_id,
        {{ orb_string('price_id') }}                                  as price_id,
        {{ orb_string('item_id') }}                                   as item_id,
        {{ orb_timestamp('timeframe_start') }}                        as timeframe_start,
        {{ orb_timestamp('timeframe_end') }}                          as timeframe_end,
        {{ orb_rate('quantity') }}                                    as quantity,
        {{ orb_amount('subtotal') }}                                  as subtotal,
        {{ orb_amount('adjusted_subtotal') }}                         as adjusted_subtotal,
        {{ orb_amount('credits_applied') }}                           as credits_applied,
        {{ orb_rate('conversion_rate') }}                             as conversion_rate,
        {{ orb_amount('partially_invoiced_amount') }}                 as partially_invoiced_amount,
        {{ orb_amount('amount') }}                                    as amount,
        {{ orb_amount('rounded_amount') }}                            as rounded_amount,
        {{ orb_string('invoicing_currency') }}                        as invoicing_currency,
        {{ orb_string('pricing_currency') }}                          as pricing_currency,
        {{ orb_timestamp('timestamp', required=true) }}               as event_at,
        {{ orb_timestamp('lock_adjusted_timestamp', required=true) }} as lock_adjusted_at,
        {{ orb_boolean('is_revert', required=true) }}                 as is_revert,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_distinct_events('typed', 'event_id') }}

),

final as (

    select
        event_id,
        created_at,
        updated_at,
        invoice_id,
        invoice_line_item_id,
        customer_id,
        subscription_id,
        price_id,
        item_id,
        timeframe_start,
        timeframe_end,
        quantity,
        subtotal,
        adjusted_subtotal,
        credits_applied,
        conversion_rate,
        partially_invoiced_amount,
        amount,
        rounded_amount,
        invoicing_currency,
        pricing_currency,
        event_at,
        lock_adjusted_at,
        is_revert,
        source_file,
        source_row
    from deduped

)

select * from final
