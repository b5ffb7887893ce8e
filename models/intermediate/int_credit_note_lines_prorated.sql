-- SPEC §3 "Credit-note revenue (proration)": each live credit-note line of an included invoice reduces
-- revenue by its pre-tax `amount`, spread evenly over its service days: the UTC days from
-- date(start) to date(end) (end exclusive) of its own start_date/end_date when both are set, else of the
-- credited invoice line item's period, else the single day of the credit note's created_at.
-- per_day = round(amount / n_days) to the currency's minor unit (half away from zero); the last day takes
-- the remainder so the days add up exactly to `amount`. One row per line and service day.
with lines as (

    select * from {{ ref('int_credit_note_lines_live') }}

),

invoices as (

    select * from {{ ref('int_invoices_included') }}

),

invoice_lines as (

    select * from {{ ref('stg_orb__invoice_line_item_billing') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

periods as (

    select
        lines.credit_note_line_item_id,
        lines.credit_note_id,
        lines.invoice_id,
        lines.item_id,
        invoices.customer_id,
        invoices.currency,
        currencies.minor_unit,
        lines.amount,
        lines.credit_note_created_at,
        case
            when lines.start_date is not null and lines.end_date is not null then 'credit_note_line'
            when invoice_lines.start_date is not null and invoice_lines.end_date is not null then 'invoice_line'
            else 'credit_note_created_at'
        end as period_source,
        case
            when lines.start_date is not null and lines.end_date is not null then cast(lines.start_date as date)
            when invoice_lines.start_date is not null and invoice_lines.end_date is not null
                then cast(invoice_lines.start_date as date)
            else cast(lines.credit_note_created_at as date)
        end as first_day,
        case
            when lines.start_date is not null and lines.end_date is not null then cast(lines.end_date as date)
            when invoice_lines.start_date is not null and invoice_lines.end_date is not null
                then cast(invoice_lines.end_date as date)
            else cast(lines.credit_note_created_at as date)
        end as end_day
    from lines
    inner join invoices
        on lines.invoice_id = invoices.invoice_id
    left join invoice_lines
        on lines.invoice_line_item_id = invoice_lines.invoice_line_item_id
    left join currencies
        on invoices.currency = currencies.currency_code

),

counted as (

    select
        *,
        -- a period that starts and ends on the same UTC day still has that one day
        greatest({{ dbt.datediff('first_day', 'end_day', 'day') }}, 1) as n_days
    from periods

),

per_day as (

    select
        *,
        {{ divide_to_minor_unit('amount', 'n_days', 'minor_unit') }} as per_day_amount
    from counted

),

days as (

    {{ integers(4) }}

),

final as (

    select
        per_day.credit_note_line_item_id,
        per_day.credit_note_id,
        per_day.invoice_id,
        per_day.item_id,
        per_day.customer_id,
        per_day.currency,
        per_day.period_source,
        per_day.credit_note_created_at,
        {{ add_days('days.n', 'per_day.first_day') }} as service_date,
        days.n + 1 as day_number,
        per_day.n_days,
        per_day.amount as line_amount,
        {{ to_money(
            "case when days.n = per_day.n_days - 1
                  then per_day.amount - per_day.per_day_amount * (per_day.n_days - 1)
                  else per_day.per_day_amount end"
        ) }} as prorated_amount
    from per_day
    inner join days
        on days.n < per_day.n_days

)

select * from final
