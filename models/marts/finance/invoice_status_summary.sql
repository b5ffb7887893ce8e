-- SPEC §3 "Invoice status summary": invoices not deleted and not draft, by currency and status.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

final as (

    select
        invoicing_currency as currency,
        status,
        count(*) as invoice_count,
        {{ to_money('sum(total)') }} as total
    from invoices
    where not is_deleted
      and status <> 'draft'
    group by invoicing_currency, status

)

select * from final
