-- SPEC §5 accounting sync: the lines of every invoice the sync may send (sync_invoices' invoices).
-- Lines of an included invoice are its live lines (voided_at null); a voided invoice keeps the lines it
-- was issued with (Orb stamps them with the invoice's voided_at), so a never-resolved send can still be
-- completed before the void is booked. The skip_zero_line_items setting is applied by the sync, not here.
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

ever_issued as (

    select
        invoice_id,
        invoicing_currency,
        is_voided
    from invoices
    where not is_deleted
      and status <> 'draft'

),

lines as (

    select * from {{ ref('stg_orb__invoice_line_item_billing') }}

),

final as (

    select
        lines.invoice_line_item_id,
        lines.invoice_id,
        cast(row_number() over (
            partition by lines.invoice_id
            order by lines.start_date nulls last, lines.invoice_line_item_id
        ) as integer) as line_number,
        ever_issued.invoicing_currency as currency,
        lines.item_id,
        lines.price_id,
        lines.name as line_name,
        lines.quantity,
        {{ to_money("coalesce(lines.rounded_amount, 0)") }} as amount,
        {{ to_money("coalesce(lines.tax_amount, 0)") }} as tax_amount,
        {{ to_money("coalesce(lines.rounded_amount, 0) + coalesce(lines.tax_amount, 0)") }} as total,
        lines.start_date,
        lines.end_date
    from lines
    inner join ever_issued
        on lines.invoice_id = ever_issued.invoice_id
    where not lines.is_voided
       or ever_issued.is_voided

)

select * from final
