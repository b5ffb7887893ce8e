-- Orb `subscription`: one row per subscription_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='subscription_id') }}

with source as (

    select * from {{ source('orb', 'subscription') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as subscription_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('customer_id') }}                  as customer_id,
        {{ orb_string('plan_id') }}                      as plan_id,
        {{ orb_string('status') }}                       as status,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        {{ orb_integer('net_terms') }}                   as net_terms,
        {{ orb_amount('invoicing_threshold') }}          as invoicing_threshold,
        {{ orb_json('metadata') }}                       as metadata,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'subscription_id') }}

),

final as (

    select
        subscription_id,
        created_at,
        updated_at,
        deleted_at,
        customer_id,
        plan_id,
        status,
        start_date,
        end_date,
        net_terms,
        invoicing_threshold,
        metadata,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
