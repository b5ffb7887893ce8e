-- SPEC §3 "Deferred revenue roll-forward" per month and currency:
--   billed     = sum of rounded_amount (pre-tax) of live invoice_line_item_billing rows of included
--                invoices, by month of invoice_date, minus sum of amount of the live credit-note lines of
--                those invoices, by month of the credit note's created_at;
--   recognized = usage + credit + credit-note revenue of the month (revenue_monthly.total_revenue);
--   closing    = opening + billed - recognized; the first month opens at 0.
-- One row for every month from the currency's first to its last month with activity (no gaps).
-- A positive closing balance is deferred revenue, a negative one unbilled revenue.
with invoices as (

    select * from {{ ref('int_invoices_included') }}

),

invoice_lines as (

    select * from {{ ref('int_invoice_lines_included') }}

),

credit_note_lines as (

    select * from {{ ref('int_credit_note_lines_live') }}

),

revenue as (

    select * from {{ ref('revenue_monthly') }}

),

billed_lines as (

    select
        invoice_month as month,
        currency,
        rounded_amount as amount
    from invoice_lines

),

credited_lines as (

    select
        {{ to_month('credit_note_lines.credit_note_created_at') }} as month,
        invoices.currency,
        -credit_note_lines.amount as amount
    from credit_note_lines
    inner join invoices
        on credit_note_lines.invoice_id = invoices.invoice_id

),

activity as (

    select month, currency, amount as billed, {{ to_money(0) }} as recognized from billed_lines
    union all
    select month, currency, amount, {{ to_money(0) }} from credited_lines
    union all
    select month, currency, {{ to_money(0) }}, total_revenue from revenue

),

monthly as (

    select
        month,
        currency,
        sum(billed) as billed,
        sum(recognized) as recognized
    from activity
    group by month, currency

),

bounds as (

    select
        currency,
        min(month) as first_month,
        {{ month_number('max(month)') }} - {{ month_number('min(month)') }} as month_span
    from monthly
    group by currency

),

month_numbers as (

    {{ integers(3) }}

),

spine as (

    select
        bounds.currency,
        {{ add_months('month_numbers.n', 'bounds.first_month') }} as month
    from bounds
    inner join month_numbers
        on month_numbers.n <= bounds.month_span

),

filled as (

    select
        spine.month,
        spine.currency,
        {{ to_money('coalesce(monthly.billed, 0)') }} as billed,
        {{ to_money('coalesce(monthly.recognized, 0)') }} as recognized
    from spine
    left join monthly
        on spine.currency = monthly.currency
       and spine.month = monthly.month

),

final as (

    select
        month,
        currency,
        {{ to_money(
            'sum(billed - recognized) over (partition by currency order by month
                                            rows between unbounded preceding and current row)
             - (billed - recognized)'
        ) }} as opening_balance,
        billed,
        recognized,
        {{ to_money(
            'sum(billed - recognized) over (partition by currency order by month
                                            rows between unbounded preceding and current row)'
        ) }} as closing_balance
    from filled

)

select * from final
