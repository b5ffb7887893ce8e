-- Orb `credit_ledger_entry`: one row per credit_ledger_entry_id: the latest version (SPEC §2.2 rule 2); reverted rows are kept and flagged.
{{ config(unique_key='credit_ledger_entry_id') }}

with source as (

    select * from {{ source('orb', 'credit_ledger_entry') }}

),

typed as (

    select
        {{ orb_id('id') }}                                           as credit_ledger_entry_id,
        {{ orb_timestamp('created_at') }}                            as created_at,
        {{ orb_timestamp('updated_at', required=true) }}             as updated_at,
        {{ orb_string('customer_id') }}                              as customer_id,
        {{ orb_integer('ledger_sequence_number') }}                  as ledger_sequence_number,
        {{ orb_enum('entry_type', 'credit_ledger_entry_type') }}     as entry_type,
        {{ orb_enum('entry_status', 'credit_ledger_entry_status') }} as entry_status,
        {{ orb_string('currency') }}                                 as currency,
        {{ orb_amount('amount') }}                                   as amount,
        {{ orb_amount('starting_balance') }}                         as starting_balance,
        {{ orb_amount('ending_balance') }}                           as ending_balance,
        {{ orb_string('credit_block_id') }}                          as credit_block_id,
        {{ orb_timestamp('credit_block_expiry_date') }}              as credit_block_expiry_date,
        {{ orb_rate('cost_basis') }}                                 as cost_basis,
        {{ orb_string('invoice_id') }}                               as invoice_id,
        {{ orb_string('price_id') }}                                 as price_id,
        {{ orb_string('description') }}                              as description,
        {{ orb_timestamp('reverted_at') }}                           as reverted_at,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_latest_version('typed', 'credit_ledger_entry_id') }}

),

final as (

    select
        credit_ledger_entry_id,
        created_at,
        updated_at,
        customer_id,
        ledger_sequence_number,
        entry_type,
        entry_status,
        currency,
        amount,
        starting_balance,
        ending_balance,
        credit_block_id,
        credit_block_expiry_date,
        cost_basis,
        invoice_id,
        price_id,
        description,
        reverted_at,
        reverted_at is not null as is_reverted,
        source_file,
        source_row
    from deduped

)

select * from final
