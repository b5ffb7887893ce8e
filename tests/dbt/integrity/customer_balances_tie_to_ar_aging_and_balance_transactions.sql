-- Integrity: per currency, customer_balances' AR equals ar_aging's open amounts, and its customer balance
-- equals the live balance transactions (increments minus decrements) created on or before the as-of date.
with balances as (
    select currency, sum(ar_outstanding) as ar_outstanding, sum(customer_balance) as customer_balance
    from {{ ref('customer_balances') }} group by currency
),
aging as (
    select currency, sum(amount_outstanding) as amount from {{ ref('ar_aging') }} group by currency
),
transactions as (
    select currency,
           sum(case when transaction_type = 'increment' then amount else -amount end) as amount
    from {{ ref('stg_orb__customer_balance_transaction') }}
    where not is_deleted
      and cast(coalesce(created_at, updated_at) as date) <= {{ as_of_date() }}
    group by currency
),
currencies as (
    select currency from balances union select currency from aging union select currency from transactions
)
select currencies.currency, balances.ar_outstanding, aging.amount as aging, balances.customer_balance,
       transactions.amount as transactions
from currencies
left join balances on currencies.currency = balances.currency
left join aging on currencies.currency = aging.currency
left join transactions on currencies.currency = transactions.currency
where coalesce(balances.ar_outstanding, 0) <> coalesce(aging.amount, 0)
   or coalesce(balances.customer_balance, 0) <> coalesce(transactions.amount, 0)
