-- Orb `credit_note_line_item`: one row per credit_note_line_item_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='credit_note_line_item_id') }}

with source as (

    select * from {{ source('orb', 'credit_note_line_item') }}

),

typed as (

    select
        {{ orb_id('id') }}                               as credit_note_line_item_id,
        {{ orb_timestamp('created_at') }}                as created_at,
        {{ orb_timestamp('updated_at', required=true) }} as updated_at,
        {{ orb_timestamp('deleted_at') }}                as deleted_at,
        {{ orb_string('credit_note_id') }}               as credit_note_id,
        {{ orb_string('invoice_id') }}                   as invoice_id,
        {{ orb_string('invoice_line_item_id') }}         as invoice_line_item_id,
        {{ orb_string('item_id') }}                      as item_id,
        {{ orb_string('name') }}                         as name,
        {{ orb_rate('quantity') }}                       as quantity,
        {{ orb_amount('subtotal') }}                     as subtotal,
        {{ orb_amount('amount') }}                       as amount,
        {{ orb_amount('tax_amount') }}                   as tax_amount,
        {{ orb_amount('total') }}                        as total,
        {{ orb_timestamp('start_date') }}                as start_date,
        {{ orb_timestamp('end_date') }}                  as end_date,
        {{ orb_timestamp('voided_at') }}                 as voided_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'credit_note_line_item_id') }}

),

final as (

    select
        credit_note_line_item_id,
        created_at,
        updated_at,
        deleted_at,
        credit_note_id,
        invoice_id,
        invoice_line_item_id,
        item_id,
        name,
        quantity,
        subtotal,
        amount,
        tax_amount,
        total,
        start_date,
        end_date,
        voided_at,
        deleted_at is not null as is_deleted,
        voided_at is not null as is_voided,
        source_file,
        source_row
    from deduped

)

select * from final
