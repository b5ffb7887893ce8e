-- Orb `customer`: one row per customer_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='customer_id') }}

with source as (

    select * from {{ source('orb', 'customer') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as customer_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('external_customer_id') }}         as external_customer_id,
        {{ orb_string('name') }}                         as name,
        {{ orb_string('email') }}                        as email,
        {{ orb_string('currency') }}                     as currency,
        {{ orb_string('timezone') }}                     as timezone,
        {{ orb_string('payment_provider') }}             as payment_provider,
        {{ orb_string('payment_provider_id') }}          as payment_provider_id,
        {{ orb_json('billing_address') }}                as billing_address,
        {{ orb_json('metadata') }}                       as metadata,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'customer_id') }}

),

final as (

    select
        customer_id,
        created_at,
        updated_at,
        deleted_at,
        external_customer_id,
        name,
        email,
        currency,
        timezone,
        payment_provider,
        payment_provider_id,
        billing_address,
        metadata,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
