-- Integrity: consolidated_monthly's net billings and revenue are the sums of the rounded per-currency rows of
-- billings_monthly_reporting and revenue_monthly_reporting; its months run without a gap; every month with
-- billings or revenue has a row.
with billings as (
    select month, sum(net_billings_reporting) as amount from {{ ref('billings_monthly_reporting') }} group by month
),
revenue as (
    select month, sum(total_revenue_reporting) as amount from {{ ref('revenue_monthly_reporting') }} group by month
),
consolidated as (
    select * from {{ ref('consolidated_monthly') }}
),
mismatches as (
    select coalesce(consolidated.month, billings.month, revenue.month) as month, 'sum' as problem
    from consolidated
    full outer join billings on consolidated.month = billings.month
    full outer join revenue on coalesce(consolidated.month, billings.month) = revenue.month
    where consolidated.month is null
       or consolidated.net_billings <> coalesce(billings.amount, 0)
       or consolidated.total_revenue <> coalesce(revenue.amount, 0)
),
gaps as (
    select max(month) as month, 'gap' as problem
    from consolidated
    having count(*) > 0
       and {{ month_number('max(month)') }} - {{ month_number('min(month)') }} + 1 <> count(*)
)
select * from mismatches
union all
select * from gaps
