-- Orb `accounting_period_lock`: one row per accounting_period_lock_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='accounting_period_lock_id') }}

with source as (

    select * from {{ source('orb', 'accounting_period_lock') }}

),

typed as (

    select
        {{ orb_id('id') }}                                        as accounting_period_lock_id,
        {{ orb_timestamp('created_at') }}                         as created_at,
        {{ orb_timestamp('updated_at', required=true) }}          as updated_at,
        {{ orb_timestamp('deleted_at') }}                         as deleted_at,
        {{ orb_date('period_start') }}                            as period_start,
        {{ orb_date('period_end') }}                              as period_end,
        {{ orb_enum('status', 'accounting_period_lock_status') }} as status,
        {{ orb_timestamp('locked_at') }}                          as locked_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'accounting_period_lock_id') }}

),

final as (

    select
        accounting_period_lock_id,
        created_at,
        updated_at,
        deleted_at,
        period_start,
        period_end,
        status,
        locked_at,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
