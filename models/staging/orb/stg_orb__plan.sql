-- Orb `plan`: one row per plan_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='plan_id') }}

with source as (

    select * from {{ source('orb', 'plan') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as plan_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('name') }}                         as name,
        {{ orb_string('currency') }}                     as currency,
        {{ orb_integer('net_terms') }}                   as net_terms,
        {{ orb_string('status') }}                       as status,
        {{ orb_string('external_plan_id') }}             as external_plan_id,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'plan_id') }}

),

final as (

    select
        plan_id,
        created_at,
        updated_at,
        deleted_at,
        name,
        currency,
        net_terms,
        status,
        external_plan_id,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
