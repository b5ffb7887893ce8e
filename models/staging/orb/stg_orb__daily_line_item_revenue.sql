-- Orb `daily_line_item_revenue`: one row per daily_line_item_revenue_id: the latest version (SPEC §2.2 rule 2); reverted rows are kept and flagged.
{{ config(unique_key='daily_line_item_revenue_id') }}

with source as (

    select * from {{ source('orb', 'daily_line_item_revenue') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as daily_line_item_revenue_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_string('invoice_id') }}                   as invoice_id,
        {{ orb_string('invoice_line_item_id') }}         as invoice_line_item_id,
        {{ orb_string('customer_id') }}                  as customer_id,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_string('price_id') }}                     as price_id,
        {{ orb_string('item_id') }}                      as item_id,
        {{ orb_timestamp('timeframe_start') }}           as timeframe_start,
        {{ orb_timestamp('timeframe_end') }}             as timeframe_end,
        {{ orb_rate('quantity') }}                       as quantity,
        {{ orb_amount('subtotal') }}                     as subtotal,
        {{ orb_amount('adjusted_subtotal') }}            as adjusted_subtotal,
        {{ orb_amount('credits_applied') }}              as credits_applied,
        {{ orb_rate('conversion_rate') }}                as conversion_rate,
        {{ orb_amount('partially_invoiced_amount') }}    as partially_invoiced_amount,
        {{ orb_amount('amount') }}                       as amount,
        {{ orb_amount('rounded_amount') }}               as rounded_amount,
        {{ orb_string('invoicing_currency') }}           as invoicing_currency,
        {{ orb_string('pricing_currency') }}             as pricing_currency,
        {{ orb_timestamp('reverted_at') }}               as reverted_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'daily_line_item_revenue_id') }}

),

final as (

    select
        daily_line_item_revenue_id,
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
        reverted_at,
        reverted_at is not null as is_reverted,
        source_file,
        source_row
    from deduped

)

select * from final
