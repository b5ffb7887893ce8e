-- Orb `billable_metric`: one row per billable_metric_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='billable_metric_id') }}

with source as (

    select * from {{ source('orb', 'billable_metric') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as billable_metric_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('name') }}                         as name,
        {{ orb_string('description') }}                  as description,
        {{ orb_string('item_id') }}                      as item_id,
        {{ orb_string('status') }}                       as status,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'billable_metric_id') }}

),

final as (

    select
        billable_metric_id,
        created_at,
        updated_at,
        deleted_at,
        name,
        description,
        item_id,
        status,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
