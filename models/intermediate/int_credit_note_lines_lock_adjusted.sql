-- SPEC §3 "Accounting period locks" applied to credit-note revenue: let P be the greatest period_end among
-- the locks already closed at the credit note's created_at; each prorated day on or before P moves to
-- P + 1 day (the first open day). One row per prorated day, with the day it is recognized on.
with prorated as (

    select * from {{ ref('int_credit_note_lines_prorated') }}

),

closed_periods as (

    select * from {{ ref('int_accounting_periods_closed') }}

),

credit_notes as (

    select distinct
        credit_note_id,
        credit_note_created_at
    from prorated

),

closed_through as (

    select
        credit_notes.credit_note_id,
        max(closed_periods.period_end) as closed_through_date
    from credit_notes
    inner join closed_periods
        on closed_periods.locked_at <= credit_notes.credit_note_created_at
    group by credit_notes.credit_note_id

),

final as (

    select
        prorated.credit_note_line_item_id,
        prorated.credit_note_id,
        prorated.invoice_id,
        prorated.customer_id,
        prorated.currency,
        prorated.service_date,
        prorated.prorated_amount,
        closed_through.closed_through_date,
        case
            when closed_through.closed_through_date is not null
             and prorated.service_date <= closed_through.closed_through_date
                then {{ add_days(1, 'closed_through.closed_through_date') }}
            else prorated.service_date
        end as recognized_date
    from prorated
    left join closed_through
        on prorated.credit_note_id = closed_through.credit_note_id

)

select * from final
