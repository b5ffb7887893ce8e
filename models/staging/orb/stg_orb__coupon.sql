-- Orb `coupon`: one row per coupon_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='coupon_id') }}

with source as (

    select * from {{ source('orb', 'coupon') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as coupon_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('redemption_code') }}              as redemption_code,
        {{ orb_string('discount_type') }}                as discount_type,
        {{ orb_rate('percentage_discount') }}            as percentage_discount,
        {{ orb_amount('amount_discount') }}              as amount_discount,
        {{ orb_integer('duration_in_months') }}          as duration_in_months,
        {{ orb_integer('max_redemptions') }}             as max_redemptions,
        {{ orb_timestamp('archived_at') }}               as archived_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'coupon_id') }}

),

final as (

    select
        coupon_id,
        created_at,
        updated_at,
        deleted_at,
        redemption_code,
        discount_type,
        percentage_discount,
        amount_discount,
        duration_in_months,
        max_redemptions,
        archived_at,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
