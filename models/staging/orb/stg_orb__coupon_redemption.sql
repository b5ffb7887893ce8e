-- Orb `coupon_redemption`: one row per coupon_redemption_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='coupon_redemption_id') }}

with source as (

    select * from {{ source('orb', 'coupon_redemption') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as coupon_redemption_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('coupon_id') }}                    as coupon_id,
        {{ orb_string('subscription_id') }}              as subscription_id,
        {{ orb_string('adjustment_id') }}                as adjustment_id,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'coupon_redemption_id') }}

),

final as (

    select
        coupon_redemption_id,
        created_at,
        updated_at,
        deleted_at,
        coupon_id,
        subscription_id,
        adjustment_id,
        start_date,
        end_date,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
