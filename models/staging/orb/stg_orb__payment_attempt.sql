-- Orb `payment_attempt`: one row per payment_attempt_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='payment_attempt_id') }}

with source as (

    select * from {{ source('orb', 'payment_attempt') }}

),

typed as (

    select
        {{ orb_id('id') }}                                     as payment_attempt_id,
        {{ orb_timestamp('created_at') }}                      as created_at,
        {{ orb_timestamp('updated_at', required=true) }}       as updated_at,
        {{ orb_timestamp('deleted_at') }}                      as deleted_at,
        {{ orb_string('invoice_id') }}                         as invoice_id,
        {{ orb_string('customer_id') }}                        as customer_id,
        {{ orb_amount('amount') }}                             as amount,
        {{ orb_string('currency') }}                           as currency,
        {{ orb_enum('payment_provider', 'payment_provider') }} as payment_provider,
        {{ orb_string('payment_provider_id') }}                as payment_provider_id,
        {{ orb_boolean('succeeded') }}                         as succeeded,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'payment_attempt_id') }}

),

final as (

    select
        payment_attempt_id,
        created_at,
        updated_at,
        deleted_at,
        invoice_id,
        customer_id,
        amount,
        currency,
        payment_provider,
        payment_provider_id,
        succeeded,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
