-- Integrity: with a reporting currency, revenue_monthly_reporting and billings_monthly_reporting hold exactly
-- the rows of revenue_monthly and billings_monthly with the same source amounts, and every converted total is
-- rounded to the reporting currency's minor unit; without one, the three reporting marts are empty.
{% if reporting_currency() %}
with minor_units as (
    select minor_unit from {{ ref('currencies') }} where currency_code = {{ reporting_currency_sql() }}
),
revenue_pairs as (
    select
        coalesce(source_rows.month, converted.month) as month,
        coalesce(source_rows.currency, converted.currency) as currency,
        'revenue_monthly_reporting' as mart
    from {{ ref('revenue_monthly') }} as source_rows
    full outer join {{ ref('revenue_monthly_reporting') }} as converted
        on source_rows.month = converted.month
       and source_rows.currency = converted.currency
    cross join minor_units
    where source_rows.month is null
       or converted.month is null
       or source_rows.total_revenue <> converted.total_revenue
       or source_rows.usage_revenue <> converted.usage_revenue
       or source_rows.credit_note_revenue <> converted.credit_note_revenue
       or converted.total_revenue_reporting <> {{ round_to_minor_unit('converted.total_revenue_reporting', 'minor_units.minor_unit') }}
),
billings_pairs as (
    select
        coalesce(source_rows.month, converted.month) as month,
        coalesce(source_rows.currency, converted.currency) as currency,
        'billings_monthly_reporting' as mart
    from {{ ref('billings_monthly') }} as source_rows
    full outer join {{ ref('billings_monthly_reporting') }} as converted
        on source_rows.month = converted.month
       and source_rows.currency = converted.currency
    cross join minor_units
    where source_rows.month is null
       or converted.month is null
       or source_rows.net_billings <> converted.net_billings
       or source_rows.gross_billings <> converted.gross_billings
       or converted.net_billings_reporting <> {{ round_to_minor_unit('converted.net_billings_reporting', 'minor_units.minor_unit') }}
)
select * from revenue_pairs
union all
select * from billings_pairs
{% else %}
select month, currency, 'revenue_monthly_reporting' as mart from {{ ref('revenue_monthly_reporting') }}
union all
select month, currency, 'billings_monthly_reporting' from {{ ref('billings_monthly_reporting') }}
union all
select month, reporting_currency, 'consolidated_monthly' from {{ ref('consolidated_monthly') }}
{% endif %}
