-- SPEC §3 "Credit-purchase invoice": an invoice referenced by a credit_ledger_entry of type increment.
-- Its billing is deferred revenue; its daily revenue rows are left out of usage revenue (the credits'
-- revenue comes from the ledger; counting both would double it).
with ledger as (

    select * from {{ ref('stg_orb__credit_ledger_entry') }}

),

final as (

    select distinct
        invoice_id
    from ledger
    where entry_type = 'increment'
      and invoice_id is not null

)

select * from final
