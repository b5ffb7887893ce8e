-- Orb `adjustment_interval`: one row per adjustment_interval_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='adjustment_interval_id') }}

with source as (

    select * from {{ source('orb', 'adjustment_interval') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as adjustment_interval_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('adjustment_id') }}                as adjustment_id,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'adjustment_interval_id') }}

),

final as (

    select
        adjustment_interval_id,
        created_at,
        updated_at,
        deleted_at,
        adjustment_id,
        subscription_id,
        start_date,
        end_date,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
