-- Orb `price`: one row per price_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='price_id') }}

with source as (

    select * from {{ source('orb', 'price') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as price_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('plan_id') }}                      as plan_id,
        {{ orb_string('item_id') }}                      as item_id,
        {{ orb_string('billable_metric_id') }}           as billable_metric_id,
        {{ orb_string('name') }}                         as name,
        {{ orb_string('currency') }}                     as currency,
        {{ orb_string('cadence') }}                      as cadence,
        {{ orb_string('billing_mode') }}                 as billing_mode,
        {{ orb_string('price_type') }}                   as price_type,
        {{ orb_rate('unit_amount') }}                    as unit_amount,
        {{ orb_rate('conversion_rate') }}                as conversion_rate,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'price_id') }}

),

final as (

    select
        price_id,
        created_at,
        updated_at,
        deleted_at,
        plan_id,
        item_id,
        billable_metric_id,
        name,
        currency,
        cadence,
        billing_mode,
        price_type,
        unit_amount,
        conversion_rate,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
