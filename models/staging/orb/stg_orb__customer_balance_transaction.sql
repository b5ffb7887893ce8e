-- Orb `customer_balance_transaction`: one row per customer_balance_transaction_id: the latest version (SPEC §2.2 rule 1); deleted rows are kept and flagged is_deleted.
{{ config(unique_key='customer_balance_transaction_id') }}

with source as (

    select * from {{ source('orb', 'customer_balance_transaction') }}

),

typed as (

    select
        {{ orb_id('id') }}                                  as customer_balance_transaction_id,
        {{ orb_timestamp('created_at') }}                   as created_at,
        {{ orb_timestamp('updated_at', required=true) }}    as updated_at,
        {{ orb_timestamp('deleted_at') }}                   as deleted_at,
        {{ orb_string('customer_id') }}                     as customer_id,
        {{ orb_enum('action', 'customer_balance_action') }} as action,
        {{ orb_enum('type', 'customer_balance_type') }}     as transaction_type,
        {{ orb_amount('amount') }}                          as amount,
        {{ orb_amount('starting_balance') }}                as starting_balance,
        {{ orb_amount('ending_balance') }}                  as ending_balance,
        {{ orb_string('currency') }}                        as currency,
        {{ orb_string('invoice_id') }}                      as invoice_id,
        {{ orb_string('credit_note_id') }}                  as credit_note_id,
        {{ orb_string('description') }}                     as description,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'customer_balance_transaction_id') }}

),

final as (

    select
        customer_balance_transaction_id,
        created_at,
        updated_at,
        deleted_at,
        customer_id,
        action,
        transaction_type,
        amount,
        starting_balance,
        ending_balance,
        currency,
        invoice_id,
        credit_note_id,
        description,
        deleted_at is not null as is_deleted,
        source_file,
        source_row
    from deduped

)

select * from final
