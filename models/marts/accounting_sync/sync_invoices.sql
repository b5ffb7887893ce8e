-- SPEC §5 accounting sync: every invoice that was ever issued ("included invoice" of SPEC §3, or one that
-- was included until Orb voided it) and is not deleted. Included invoices are sent; voided ones carry
-- voided_at so the sync voids them in the provider. Settings (minimum_issue_date, minimum_amount,
-- skip_zero_invoices) are applied by the sync in Python so they can change without a rebuild.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

included as (

    select invoice_id from {{ ref('int_invoices_included') }}

),

line_totals as (

    select
        invoice_id,
        {{ to_money("sum(amount)") }} as line_amount,
        {{ to_money("sum(tax_amount)") }} as line_tax_amount,
        cast(count(*) as integer) as line_count
    from {{ ref('sync_invoice_lines') }}
    group by invoice_id

),

final as (

    select
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.invoicing_currency as currency,
        invoices.status,
        cast(invoices.invoice_date as date) as invoice_date,
        cast(invoices.due_date as date) as due_date,
        invoices.issued_at,
        cast(coalesce(invoices.issued_at, invoices.invoice_date) as date) as issued_date,
        invoices.paid_at,
        invoices.voided_at,
        {{ to_money("invoices.total") }} as total,
        {{ to_money("coalesce(invoices.amount_due, invoices.total)") }} as amount_due,
        {{ to_money("invoices.total - coalesce(invoices.amount_due, invoices.total)") }}
            as customer_balance_applied,
        coalesce(line_totals.line_amount, {{ to_money("0") }}) as line_amount,
        coalesce(line_totals.line_tax_amount, {{ to_money("0") }}) as line_tax_amount,
        {{ to_money("invoices.total - coalesce(line_totals.line_amount, 0) - coalesce(line_totals.line_tax_amount, 0)") }}
            as adjustment_amount,
        coalesce(line_totals.line_count, 0) as line_count,
        included.invoice_id is not null as is_included,
        invoices.is_voided,
        invoices.memo
    from invoices
    left join included
        on invoices.invoice_id = included.invoice_id
    left join line_totals
        on invoices.invoice_id = line_totals.invoice_id
    where not invoices.is_deleted
      and invoices.status <> 'draft'

)

select * from final
