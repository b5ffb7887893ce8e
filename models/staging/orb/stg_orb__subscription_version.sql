-- Orb `subscription_version`: one row per subscription_version_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='subscription_version_id') }}

with source as (

    select * from {{ source('orb', 'subscription_version') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as subscription_version_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_string('plan_id') }}                      as plan_id,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('ended_at') }}                  as ended_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'subscription_version_id') }}

),

final as (

    select
        subscription_version_id,
        created_at,
        updated_at,
        deleted_at,
        subscription_id,
        plan_id,
        start_date,
        ended_at,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
