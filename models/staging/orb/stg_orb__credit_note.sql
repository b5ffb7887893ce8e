-- Orb `credit_note`: one row per credit_note_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='credit_note_id') }}

with source as (

    select * from {{ source('orb', 'credit_note') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as credit_note_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('credit_note_number') }}           as credit_note_number,
        {{ orb_string('invoice_id') }}                   as invoice_id,
        {{ orb_string('customer_id') }}                  as customer_id,
        {{ orb_enum('type', 'credit_note_type') }}       as credit_note_type,
        {{ orb_string('reason') }}                       as reason,
        {{ orb_amount('subtotal') }}                     as subtotal,
        {{ orb_amount('total') }}                        as total,
        {{ orb_string('memo') }}                         as memo,
        {{ orb_timestamp('voided_at') }}                 as voided_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'credit_note_id') }}

),

final as (

    select
        credit_note_id,
        created_at,
        updated_at,
        deleted_at,
        credit_note_number,
        invoice_id,
        customer_id,
        credit_note_type,
        reason,
        subtotal,
        total,
        memo,
        voided_at,
        deleted_at is not null as is_deleted,
        voided_at is not null as is_voided,
        source_file,
        source_row
    from deduped

)

select * from final
