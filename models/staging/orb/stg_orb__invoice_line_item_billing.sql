-- Orb `invoice_line_item_billing`: one row per invoice_line_item_id: the latest version (SPEC §2.2 rule 2); voided rows are kept and flagged.
{{ config(unique_key='invoice_line_item_id') }}

with source as (

    select * from {{ source('orb', 'invoice_line_item_billing') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as invoice_line_item_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_string('invoice_id') }}                   as invoice_id,
        {{ orb_string('customer_id') }}                  as customer_id,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_string('price_id') }}                     as price_id,
        {{ orb_string('item_id') }}                      as item_id,
        {{ orb_string('name') }}                         as name,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        {{ orb_rate('quantity') }}                       as quantity,
        {{ orb_amount('subtotal') }}                     as subtotal,
        {{ orb_amount('adjusted_subtotal') }}            as adjusted_subtotal,
        {{ orb_amount('credits_applied') }}              as credits_applied,
        {{ orb_rate('conversion_rate') }}                as conversion_rate,
        {{ orb_amount('partially_invoiced_amount') }}    as partially_invoiced_amount,
        {{ orb_amount('amount') }}                       as amount,
        {{ orb_amount('rounded_amount') }}               as rounded_amount,
        {{ orb_amount('tax_amount') }}                   as tax_amount,
        {{ orb_amount('total') }}                        as total,
        {{ orb_string('invoicing_currency') }}           as invoicing_currency,
        {{ orb_string('pricing_currency') }}             as pricing_currency,
        {{ orb_timestamp('invoice_date') }}              as invoice_date,
        {{ orb_timestamp('voided_at') }}                 as voided_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'invoice_line_item_id') }}

),

final as (

    select
        invoice_line_item_id,
        created_at,
        updated_at,
        invoice_id,
        customer_id,
        subscription_id,
        price_id,
        item_id,
        name,
        start_date,
        end_date,
        quantity,
        subtotal,
        adjusted_subtotal,
        credits_applied,
        conversion_rate,
        partially_invoiced_amount,
        amount,
        rounded_amount,
        tax_amount,
        total,
        invoicing_currency,
        pricing_currency,
        invoice_date,
        voided_at,
        voided_at is not null as is_voided,
        source_file,
        source_row
    from deduped

)

select * from final
