-- Integrity: for every currency and month of deferred_revenue_rollforward, closing = opening + billed -
-- recognized, the first month opens at 0, each month opens at the previous month's closing, and there
-- are no gaps between the first and last month.
with ordered as (
    select
        *,
        lag(closing_balance) over (partition by currency order by month) as previous_closing,
        lag(month) over (partition by currency order by month) as previous_month
    from {{ ref('deferred_revenue_rollforward') }}
)
select currency, month, opening_balance, billed, recognized, closing_balance, previous_closing
from ordered
where closing_balance <> opening_balance + billed - recognized
   or (previous_month is null and opening_balance <> 0)
   or (previous_month is not null and opening_balance <> previous_closing)
   or (previous_month is not null and {{ add_months(1, 'previous_month') }} <> month)
