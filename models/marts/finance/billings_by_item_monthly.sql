-- SPEC §3 "Item" applied to billings, per month of invoice_date, invoicing currency and item:
--   billed       = sum of rounded_amount (pre-tax) of live billing lines of included invoices;
--   credit_notes = sum of the pre-tax amount of live credit-note lines of those invoices, in the parent
--                  invoice's month, by the credit-note line's item_id;
-- lines without an item go to item '(none)'. item_name is the item's current name.
with invoice_lines as (

    select * from {{ ref('int_invoice_lines_included') }}

),

credit_note_lines as (

    select * from {{ ref('int_credit_note_lines_live') }}

),

invoices as (

    select * from {{ ref('int_invoices_included') }}

),

items as (

    select * from {{ ref('stg_orb__item') }}

),

unioned as (

    select
        invoice_month as month,
        currency,
        coalesce(item_id, '(none)') as item_id,
        1 as line_count,
        rounded_amount as billed,
        {{ to_money(0) }} as credit_notes
    from invoice_lines

    union all

    select
        invoices.invoice_month,
        invoices.currency,
        coalesce(credit_note_lines.item_id, '(none)'),
        0,
        {{ to_money(0) }},
        credit_note_lines.amount
    from credit_note_lines
    inner join invoices
        on credit_note_lines.invoice_id = invoices.invoice_id

),

summed as (

    select
        month,
        currency,
        item_id,
        cast(sum(line_count) as bigint) as line_count,
        {{ to_money('sum(billed)') }} as billed,
        {{ to_money('sum(credit_notes)') }} as credit_notes
    from unioned
    group by month, currency, item_id

),

final as (

    select
        summed.month,
        summed.currency,
        summed.item_id,
        case when summed.item_id = '(none)' then summed.item_id else items.name end as item_name,
        summed.line_count,
        summed.billed,
        summed.credit_notes
    from summed
    left join items
        on summed.item_id = items.item_id

)

select * from final
