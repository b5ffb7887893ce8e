-- SPEC §3 "Month-end AR": the dates the AR aging rule is applied at. One row per month from the month of the
-- first issued invoice (not deleted, not draft) to the month of as_of_date: month_end is the month's last
-- day and as_of_date the date D the rule uses, the month end itself, or as_of_date in its own month (an
-- aging after it would be a forecast). The as-of month's row is "AR aging as of D".
with invoices as (

    select * from {{ ref('stg_orb__invoice_metadata') }}

),

as_of as (

    select {{ as_of_date() }} as as_of_date

),

first_issue as (

    select
        min(cast(issued_at as date)) as first_issued_date
    from invoices
    where not is_deleted
      and status <> 'draft'

),

bounds as (

    select
        {{ to_month('first_issue.first_issued_date') }} as first_month,
        {{ month_number('as_of.as_of_date') }} - {{ month_number('first_issue.first_issued_date') }} as month_span,
        as_of.as_of_date
    from first_issue
    cross join as_of
    where first_issue.first_issued_date <= as_of.as_of_date

),

month_numbers as (

    {{ integers(3) }}

),

months as (

    select
        {{ add_months('month_numbers.n', 'bounds.first_month') }} as month,
        bounds.as_of_date as reporting_as_of_date
    from bounds
    inner join month_numbers
        on month_numbers.n <= bounds.month_span

),

final as (

    select
        {{ add_days(-1, add_months(1, 'month')) }} as month_end,
        case
            when {{ add_days(-1, add_months(1, 'month')) }} < reporting_as_of_date
                then {{ add_days(-1, add_months(1, 'month')) }}
            else reporting_as_of_date
        end as as_of_date
    from months

)

select * from final
