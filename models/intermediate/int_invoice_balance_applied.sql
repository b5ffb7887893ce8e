-- Customer balance applied to each invoice (SPEC §3 Billings): over live customer_balance_transaction
-- rows with action = 'applied_to_invoice', +amount for a decrement (the customer's credit paid part of
-- the invoice), -amount for an increment (an amount the customer owed was added to the invoice).
with transactions as (

    select * from {{ ref('stg_orb__customer_balance_transaction') }}

),

final as (

    select
        invoice_id,
        {{ to_money("sum(case when transaction_type = 'decrement' then amount else -amount end)") }} as balance_applied,
        count(*) as transaction_count
    from transactions
    where not is_deleted
      and action = 'applied_to_invoice'
      and invoice_id is not null
    group by invoice_id

)

select * from final
