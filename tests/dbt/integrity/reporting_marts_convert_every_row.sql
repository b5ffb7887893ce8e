-- Integrity: with a reporting currency, revenue_monthly_reporting and billings_monthly_reporting hold exactly
-- the rows of revenue_monthly and billings_monthly with the same source amounts, and every converted total is
-- rounded to the reporting currency's minor unit; without one, the three reporting marts are empty.
-- depends_on: {{ ref('revenue_monthly') }} {{ ref('billings_monthly') }} {{ ref('currencies') }}
-- depends_on: {{ ref('revenue_monthly_reporting') }} {{ ref('billings_monthly_reporting') }} {{ ref('consolidated_monthly') }}
{% set pairs = [
    ('revenue_monthly', 'revenue_monthly_reporting', ['usage_revenue', 'credit_note_revenue', 'total_revenue']),
    ('billings_monthly', 'billings_monthly_reporting', ['gross_billings', 'net_billings']),
] %}
{% if reporting_currency() %}
with minor_units as (
    select minor_unit from {{ ref('currencies') }} where currency_code = {{ reporting_currency_sql() }}
)
{% for source_mart, converted_mart, amounts in pairs %}
select
    coalesce(source_rows.month, converted.month) as month,
    coalesce(source_rows.currency, converted.currency) as currency,
    '{{ converted_mart }}' as mart
from {{ ref(source_mart) }} as source_rows
full outer join {{ ref(converted_mart) }} as converted
    on source_rows.month = converted.month
   and source_rows.currency = converted.currency
cross join minor_units
where source_rows.month is null
   or converted.month is null
{%- for amount in amounts %}
   or source_rows.{{ amount }} <> converted.{{ amount }}
   or converted.{{ amount }}_reporting
      <> {{ round_to_minor_unit('converted.' ~ amount ~ '_reporting', 'minor_units.minor_unit') }}
{%- endfor %}
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% else %}
select month, currency, 'revenue_monthly_reporting' as mart from {{ ref('revenue_monthly_reporting') }}
union all
select month, currency, 'billings_monthly_reporting' from {{ ref('billings_monthly_reporting') }}
union all
select month, reporting_currency, 'consolidated_monthly' from {{ ref('consolidated_monthly') }}
{% endif %}
