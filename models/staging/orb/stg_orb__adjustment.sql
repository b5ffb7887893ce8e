-- Orb `adjustment`: one row per adjustment_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='adjustment_id') }}

with source as (

    select * from {{ source('orb', 'adjustment') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as adjustment_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('adjustment_type') }}              as adjustment_type,
        {{ orb_amount('amount_discount') }}              as amount_discount,
        {{ orb_rate('percentage_discount') }}            as percentage_discount,
        {{ orb_amount('minimum_amount') }}               as minimum_amount,
        {{ orb_amount('maximum_amount') }}               as maximum_amount,
        {{ orb_boolean('is_invoice_level') }}            as is_invoice_level,
        {{ orb_json('applies_to_price_ids') }}           as applies_to_price_ids,
        {{ orb_string('reason') }}                       as reason,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'adjustment_id') }}

),

final as (

    select
        adjustment_id,
        created_at,
        updated_at,
        deleted_at,
        adjustment_type,
        amount_discount,
        percentage_discount,
        minimum_amount,
        maximum_amount,
        is_invoice_level,
        applies_to_price_ids,
        reason,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
