-- Integrity: per currency, credit revenue in the marts equals the ledger entries' units x cost basis in
-- staging (consumption + breakage), through the customer's currency.
with staged as (
    select customers.currency,
           sum(cast(case when ledger.entry_type in ('decrement', 'credit_block_expiry') then abs(ledger.amount)
                         when ledger.entry_type = 'amendment' then -abs(ledger.amount)
                         else 0 end * coalesce(ledger.cost_basis, 0) as {{ money_type() }})) as amount
    from {{ ref('stg_orb__credit_ledger_entry') }} as ledger
    left join {{ ref('stg_orb__customer') }} as customers on ledger.customer_id = customers.customer_id
    where not ledger.is_reverted
    group by customers.currency
),
mart as (
    select currency, sum(credit_consumption_revenue + credit_breakage_revenue) as amount
    from {{ ref('revenue_monthly') }}
    group by currency
)
select coalesce(staged.currency, mart.currency) as currency, staged.amount as staged_amount, mart.amount as mart_amount
from staged
full outer join mart on staged.currency = mart.currency
where coalesce(staged.amount, 0) <> coalesce(mart.amount, 0)
