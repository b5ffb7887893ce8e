-- Orb `processor_payments`: one row per processor_payment_id: the row of the delivery file whose name sorts last.
{{ config(unique_key='processor_payment_id') }}

with source as (

    select * from {{ source('orb', 'processor_payments') }}

),

typed as (

    select
        {{ orb_id('id') }}                  as processor_payment_id,
        {{ orb_integer('amount') }}         as amount_minor,
        upper({{ orb_string('currency') }}) as currency,
        {{ orb_string('status') }}          as status,
        {{ orb_integer('created') }}        as created_unix,
        {{ orb_json('metadata') }}          as metadata,
        {{ orb_integer('fee') }}            as fee_minor,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_distinct_events('typed', 'processor_payment_id') }}

),

final as (

    select
        processor_payment_id,
        amount_minor,
        currency,
        status,
        created_unix,
        metadata,
        fee_minor,
        {{ json_text_field('metadata', 'orb_invoice_id') }} as orb_invoice_id,
        {{ from_unix_seconds('created_unix') }} as created_at,
        source_file,
        source_row
    from deduped

)

select * from final
