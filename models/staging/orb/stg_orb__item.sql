-- Orb `item`: one row per item_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='item_id') }}

with source as (

    select * from {{ source('orb', 'item') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as item_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('name') }}                         as name,
        {{ orb_json('external_connections') }}           as external_connections,
        {{ orb_timestamp('archived_at') }}               as archived_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'item_id') }}

),

final as (

    select
        item_id,
        created_at,
        updated_at,
        deleted_at,
        name,
        external_connections,
        archived_at,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
