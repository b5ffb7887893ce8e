-- SPEC §5 accounting sync: a customer is synced only once it has an issued invoice, so this holds the
-- customers of sync_invoices (an invoice that is, or was until voided, an included invoice).
with customers as (

    select * from {{ ref('stg_orb__customer') }}

),

issued as (

    select
        customer_id,
        min(issued_date) as first_issued_date,
        cast(count(*) as integer) as issued_invoice_count
    from {{ ref('sync_invoices') }}
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.external_customer_id,
        customers.name as customer_name,
        customers.email,
        customers.currency,
        customers.billing_address,
        issued.first_issued_date,
        issued.issued_invoice_count,
        customers.is_deleted
    from customers
    inner join issued
        on customers.customer_id = issued.customer_id

)

select * from final
