-- Orb `credit_ledger_entry_event`: every event once (SPEC §2.2 rule 3); a revert is its own row with is_revert = true.
{{ config(unique_key='event_id') }}

with source as (

    select * from {{ source('orb', 'credit_ledger_entry_event') }}

),

typed as (

    select
        {{ orb_id('id') }}                                            as event_id,
        {{ orb_timestamp('created_at') }}                             as created_at,
        {{ orb_timestamp('updated_at', required=true) }}              as updated_at,
        {{ orb_string('credit_ledger_entry_id') }}                    as credit_ledger_entry_id,
        {{ orb_string('customer_id') }}                               as customer_id,
        {{ orb_integer('ledger_sequence_number') }}                   as ledger_sequence_number,
        {{ orb_enum('entry_type', 'credit_ledger_entry_type') }}      as entry_type,
        {{ orb_enum('entry_status', 'credit_ledger_entry_status') }}  as entry_status,
        {{ orb_string('currency') }}                                  as currency,
        {{ orb_amount('amount') }}                                    as amount,
        {{ orb_amount('starting_balance') }}                          as starting_balance,
        {{ orb_amount('ending_balance') }}                            as ending_balance,
        {{ orb_string('credit_block_id') }}                           as credit_block_id,
        {{ orb_timestamp('credit_block_expiry_date') }}               as credit_block_expiry_date,
        {{ orb_rate('cost_basis') }}                                  as cost_basis,
        {{ orb_string('invoice_id') }}                                as invoice_id,
        {{ orb_string('price_id') }}                                  as price_id,
        {{ orb_string('description') }}                               as description,
        {{ orb_timestamp('timestamp', required=true) }}               as event_at,
        {{ orb_timestamp('lock_adjusted_timestamp', required=true) }} as lock_adjusted_at,
        {{ orb_boolean('is_revert', required=true) }}                 as is_revert,
        {{ orb_amount('recognized_revenue_amount') }}                 as recognized_revenue_amount,
        {{ orb_string('invoicing_currency') }}                        as invoicing_currency,
        _file as source_file,
        _row as source_row
    from source

),

deduped as (

    {{ orb_distinct_events('typed', 'event_id') }}

),

final as (

    select
        event_id,
        created_at,
        updated_at,
        credit_ledger_entry_id,
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
        event_at,
        lock_adjusted_at,
        is_revert,
        recognized_revenue_amount,
        invoicing_currency,
        source_file,
        source_row
    from deduped

)

select * from final
