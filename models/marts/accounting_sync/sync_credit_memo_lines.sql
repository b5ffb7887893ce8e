-- SPEC §5 accounting sync: the lines of the live credit memos in sync_credit_memos (SPEC §3 "live
-- credit-note line"), each pointing at the invoice line it credits.
with memos as (

    select * from {{ ref('sync_credit_memos') }}

),

lines as (

    select * from {{ ref('int_credit_note_lines_live') }}

),

final as (

    select
        lines.credit_note_line_item_id,
        lines.credit_note_id,
        cast(row_number() over (
            partition by lines.credit_note_id
            order by lines.credit_note_line_item_id
        ) as integer) as line_number,
        lines.invoice_id,
        lines.invoice_line_item_id,
        memos.currency,
        lines.item_id,
        lines.name as line_name,
        lines.quantity,
        {{ to_money("lines.amount") }} as amount,
        {{ to_money("coalesce(lines.tax_amount, 0)") }} as tax_amount,
        {{ to_money("lines.amount + coalesce(lines.tax_amount, 0)") }} as total
    from lines
    inner join memos
        on lines.credit_note_id = memos.credit_note_id
    where memos.is_live

)

select * from final
