-- Orb `price_interval`: one row per price_interval_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='price_interval_id') }}

with source as (

    select * from {{ source('orb', 'price_interval') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as price_interval_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_string('price_id') }}                     as price_id,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        {{ orb_rate('fixed_fee_quantity') }}             as fixed_fee_quantity,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'price_interval_id') }}

),

final as (

    select
        price_interval_id,
        created_at,
        updated_at,
        deleted_at,
        subscription_id,
        price_id,
        start_date,
        end_date,
        fixed_fee_quantity,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
