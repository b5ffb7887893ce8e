{#- The (revenue_date, customer_id, all_dates) keys of the revenue models that tonight's staged rows can change
    (orb_downstream.sql). Both versions of a touched row count: the day and customer it moved from, and to. -#}

{#- int_revenue_usage_daily: a daily revenue row touched tonight; every daily revenue row of an invoice whose
    credit-purchase standing (an increment ledger entry naming it) a ledger entry touched tonight may change. -#}
{% macro usage_revenue_affected_keys() -%}
select cast(timeframe_start as date) as revenue_date, customer_id, false as all_dates
from {{ orb_touched('daily_line_item_revenue', 'timeframe_start, customer_id') }} as touched
union all
select cast(timeframe_start as date), customer_id, false
from {{ orb_staged('daily_line_item_revenue') }}
where invoice_id in (
    select invoice_id from {{ orb_touched('credit_ledger_entry', 'invoice_id, entry_type') }} as touched
    where entry_type = 'increment' and invoice_id is not null
)
{%- endmacro %}


{#- revenue_daily: the usage keys; the day and customer of a ledger entry touched tonight, and of every ledger
    entry of a customer touched tonight (its currency values the entry); every day of a customer whose
    credit-note proration may change: the customers (old and new) of the invoices of the credit-note lines
    touched tonight, of the lines of a credit note touched tonight, of the lines crediting an invoice line
    touched tonight, and of the lines of an invoice touched tonight. -#}
{% macro revenue_daily_affected_keys() -%}
{{ usage_revenue_affected_keys() }}
union all
select cast(created_at as date), customer_id, false
from {{ orb_touched('credit_ledger_entry', 'created_at, customer_id') }} as touched
union all
select cast(created_at as date), customer_id, false
from {{ orb_staged('credit_ledger_entry') }}
where customer_id in (select customer_id from {{ orb_touched('customer', 'customer_id') }} as touched)
union all
select null, customer_id, true
from (
    select customer_id, invoice_id from {{ orb_staged('invoice_metadata') }}
    union all
    select customer_id, invoice_id from orb_state.displaced_invoice_metadata
) as invoices
where invoice_id in (
    -- every version of the lines in question, with every version of their credit note
    with line_versions as (
        select credit_note_line_item_id, credit_note_id, invoice_id, invoice_line_item_id
        from {{ orb_staged('credit_note_line_item') }}
        union all
        select credit_note_line_item_id, credit_note_id, invoice_id, invoice_line_item_id
        from orb_state.displaced_credit_note_line_item
    ),
    note_versions as (
        select credit_note_id, invoice_id from {{ orb_staged('credit_note') }}
        union all
        select credit_note_id, invoice_id from orb_state.displaced_credit_note
    ),
    line_invoices as (
        select line_versions.credit_note_line_item_id, line_versions.credit_note_id,
               line_versions.invoice_line_item_id, line_versions.invoice_id
        from line_versions
        union all
        select line_versions.credit_note_line_item_id, line_versions.credit_note_id,
               line_versions.invoice_line_item_id, note_versions.invoice_id
        from line_versions
        inner join note_versions on line_versions.credit_note_id = note_versions.credit_note_id
    ),
    lines_in_question as (
        select credit_note_line_item_id
        from {{ orb_touched('credit_note_line_item', 'credit_note_line_item_id') }} as touched
        union all
        select credit_note_line_item_id from line_invoices
        where credit_note_id in (select credit_note_id from {{ orb_touched('credit_note', 'credit_note_id') }} as touched)
           or invoice_line_item_id in (
                select invoice_line_item_id
                from {{ orb_touched('invoice_line_item_billing', 'invoice_line_item_id') }} as touched)
           or invoice_id in (select invoice_id from {{ orb_touched('invoice_metadata', 'invoice_id') }} as touched)
    )
    select invoice_id from line_invoices
    where credit_note_line_item_id in (select credit_note_line_item_id from lines_in_question)
      and invoice_id is not null
)
{%- endmacro %}
