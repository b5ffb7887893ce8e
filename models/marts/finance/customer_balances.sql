-- Per customer and currency as of D (dbt var as_of_date, default today in UTC):
--   ar_outstanding       SPEC §3 "AR aging as of D": sum of ar_aging.amount_outstanding of the customer's
--                        open invoices in the currency (the aging rule itself lives in int_invoices_aged);
--   customer_balance     SPEC §3 "Customer balance": sum over live (not deleted) customer_balance_transaction
--                        rows created on or before D of +amount for increment, -amount for decrement
--                        (positive = Orb owes the customer);
--   prepaid_credit_units SPEC §3 "Remaining prepaid credits": ending_balance of the customer's latest
--                        (greatest ledger_sequence_number) non-reverted credit_ledger_entry created on or
--                        before D, on the row of the customer's own currency.
-- "Created on or before D" compares the UTC date of created_at (else updated_at) with D. One row for every
-- customer and currency where any of the three is not zero (DECISIONLOG "Customer balances").
with customers as (

    select * from {{ ref('stg_orb__customer') }}

),

open_invoices as (

    select * from {{ ref('ar_aging') }}

),

balance_transactions as (

    select * from {{ ref('stg_orb__customer_balance_transaction') }}

),

ledger as (

    select * from {{ ref('stg_orb__credit_ledger_entry') }}

),

as_of as (

    select {{ as_of_date() }} as as_of_date

),

receivables as (

    select
        customer_id,
        currency,
        sum(amount_outstanding) as ar_outstanding
    from open_invoices
    group by customer_id, currency

),

balances as (

    select
        balance_transactions.customer_id,
        balance_transactions.currency,
        sum(case when balance_transactions.transaction_type = 'increment' then balance_transactions.amount
                 else -balance_transactions.amount end) as customer_balance
    from balance_transactions
    cross join as_of
    where not balance_transactions.is_deleted
      and cast(coalesce(balance_transactions.created_at, balance_transactions.updated_at) as date) <= as_of.as_of_date
    group by balance_transactions.customer_id, balance_transactions.currency

),

ledger_entries_by_recency as (

    select
        ledger.customer_id,
        ledger.ending_balance,
        row_number() over (
            partition by ledger.customer_id
            order by ledger.ledger_sequence_number desc nulls last, ledger.created_at desc nulls last,
                     ledger.credit_ledger_entry_id desc
        ) as recency
    from ledger
    cross join as_of
    where not ledger.is_reverted
      and cast(coalesce(ledger.created_at, ledger.updated_at) as date) <= as_of.as_of_date

),

credits as (

    select
        ledger_entries_by_recency.customer_id,
        customers.currency,
        ledger_entries_by_recency.ending_balance as prepaid_credit_units
    from ledger_entries_by_recency
    left join customers
        on ledger_entries_by_recency.customer_id = customers.customer_id
    where ledger_entries_by_recency.recency = 1

),

measures as (

    select customer_id, currency, ar_outstanding, {{ to_money(0) }} as customer_balance, {{ to_money(0) }} as prepaid_credit_units
    from receivables
    union all
    select customer_id, currency, {{ to_money(0) }}, customer_balance, {{ to_money(0) }}
    from balances
    union all
    select customer_id, currency, {{ to_money(0) }}, {{ to_money(0) }}, prepaid_credit_units
    from credits

),

summed as (

    select
        customer_id,
        currency,
        sum(ar_outstanding) as ar_outstanding,
        sum(customer_balance) as customer_balance,
        sum(prepaid_credit_units) as prepaid_credit_units
    from measures
    group by customer_id, currency

),

final as (

    select
        summed.customer_id,
        summed.currency,
        customers.name as customer_name,
        as_of.as_of_date,
        {{ to_money('summed.ar_outstanding') }} as ar_outstanding,
        {{ to_money('summed.customer_balance') }} as customer_balance,
        {{ to_money('summed.prepaid_credit_units') }} as prepaid_credit_units
    from summed
    cross join as_of
    left join customers
        on summed.customer_id = customers.customer_id
    where summed.ar_outstanding <> 0
       or summed.customer_balance <> 0
       or summed.prepaid_credit_units <> 0

)

select * from final
