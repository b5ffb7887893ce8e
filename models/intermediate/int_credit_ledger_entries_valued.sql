-- SPEC §3 "Credit revenue" (current state), per ledger entry: entries not reverted; units = |amount| for
-- decrement (consumption) and credit_block_expiry (breakage), -|amount| for amendment (negative
-- consumption), 0 for every other type; revenue = units x coalesce(cost_basis, 0) on date(created_at),
-- in the customer's currency.
with ledger as (

    select * from {{ ref('stg_orb__credit_ledger_entry') }}

),

customers as (

    select * from {{ ref('stg_orb__customer') }}

),

valued as (

    select
        ledger.credit_ledger_entry_id,
        ledger.customer_id,
        customers.currency,
        ledger.entry_type,
        cast(ledger.created_at as date) as revenue_date,
        ledger.cost_basis,
        case
            when ledger.entry_type in ('decrement', 'credit_block_expiry') then abs(ledger.amount)
            when ledger.entry_type = 'amendment' then -abs(ledger.amount)
            else 0
        end as units
    from ledger
    left join customers
        on ledger.customer_id = customers.customer_id
    where not ledger.is_reverted

),

final as (

    select
        credit_ledger_entry_id,
        customer_id,
        currency,
        entry_type,
        revenue_date,
        units,
        cost_basis,
        {{ to_money('units * coalesce(cost_basis, 0)') }} as revenue,
        case when entry_type = 'credit_block_expiry' then 'breakage' else 'consumption' end as revenue_kind
    from valued
    where units <> 0

)

select * from final
