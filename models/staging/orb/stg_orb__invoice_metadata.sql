-- Orb `invoice_metadata`: one row per invoice_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='invoice_id') }}

with source as (

    select * from {{ source('orb', 'invoice_metadata') }}

),

typed as (

    select
        {{ orb_id('id') }}                                 as invoice_id,
        {{ orb_timestamp('created_at') }}                  as created_at,
        {{ orb_timestamp('updated_at', required=true) }}   as updated_at,
        {{ orb_timestamp('deleted_at') }}                  as deleted_at,
        {{ orb_string('invoice_number') }}                 as invoice_number,
        {{ orb_string('customer_id') }}                    as customer_id,
        {{ orb_string('subscription_id') }}                as subscription_id,
        {{ orb_enum('status', 'invoice_status') }}         as status,
        {{ orb_enum('invoice_source', 'invoice_source') }} as invoice_source,
        {{ orb_string('invoicing_currency') }}             as invoicing_currency,
        {{ orb_amount('subtotal') }}                       as subtotal,
        {{ orb_amount('total') }}                          as total,
        {{ orb_amount('amount_due') }}                     as amount_due,
        {{ orb_timestamp('invoice_date') }}                as invoice_date,
        {{ orb_timestamp('due_date') }}                    as due_date,
        {{ orb_timestamp('issued_at') }}                   as issued_at,
        {{ orb_timestamp('paid_at') }}                     as paid_at,
        {{ orb_timestamp('voided_at') }}                   as voided_at,
        {{ orb_string('payment_provider') }}               as payment_provider,
        {{ orb_string('payment_provider_id') }}            as payment_provider_id,
        {{ orb_string('memo') }}                           as memo,
        {{ orb_json('metadata') }}                         as metadata,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'invoice_id') }}

),

final as (

    select
        invoice_id,
        created_at,
        updated_at,
        deleted_at,
        invoice_number,
        customer_id,
        subscription_id,
        status,
        invoice_source,
        invoicing_currency,
        subtotal,
        total,
        amount_due,
        invoice_date,
        due_date,
        issued_at,
        paid_at,
        voided_at,
        payment_provider,
        payment_provider_id,
        memo,
        metadata,
        deleted_at is not null as is_deleted,
        voided_at is not null as is_voided,
        source_file,
        source_row
    from deduped

)

select * from final
