{#- Dates. Days are UTC calendar days; a month is the first day of the month as a date. -#}

{% macro to_month(timestamp_or_date) -%}
  cast({{ dbt.date_trunc('month', timestamp_or_date) }} as date)
{%- endmacro %}


{% macro add_days(days, date) -%}
  cast({{ dbt.dateadd('day', days, date) }} as date)
{%- endmacro %}


{% macro add_months(months, date) -%}
  cast({{ dbt.dateadd('month', months, date) }} as date)
{%- endmacro %}


{#- Months since year 0: month arithmetic without datediff (whose Spark expansion is 10 KB of SQL). -#}
{% macro month_number(date) -%}
  (extract(year from {{ date }}) * 12 + extract(month from {{ date }}) - 1)
{%- endmacro %}


{#- The as-of date of AR aging: dbt var as_of_date (YYYY-MM-DD), else env ORB_AS_OF_DATE, default today in UTC.
    orbfin passes the env var: a var that changes every night would cost dbt a full parse of the project. The env
    var is read only when the SQL is compiled (`execute`), never while dbt parses: dbt's partial parse re-parses
    every file that read an env var whose value changed, and the date changes every night (1.5 s of a 20k night).
    Parsing needs no date: what a model reads and how it is configured do not depend on it. -#}
{% macro as_of_date() -%}
  {%- if not execute -%}
  cast('1970-01-01' as date)
  {%- else -%}
  {%- set from_var = var('as_of_date', none) -%}
  {%- set configured = from_var or env_var('ORB_AS_OF_DATE', '') -%}
  {%- if configured -%}
    {%- set value = configured | string | trim -%}
    {#- the error names where the date came from: an analyst's --vars, or the env var orbfin (or a shell) set -#}
    {%- set origin = "the dbt var as_of_date" if from_var else "env ORB_AS_OF_DATE" -%}
    {%- set parts = modules.re.match('^([0-9]{4})-([0-9]{2})-([0-9]{2})$', value) -%}
    {%- set month = parts.group(2) | int if parts else 0 -%}
    {%- if month >= 1 and month <= 12 -%}
      {%- set next_month = modules.datetime.date(parts.group(1) | int + month // 12, month % 12 + 1, 1) -%}
      {%- set last_day = (next_month - modules.datetime.timedelta(days=1)).day -%}
    {%- endif -%}
    {%- if not parts or month < 1 or month > 12 or parts.group(3) | int < 1 or parts.group(3) | int > last_day -%}
      {{ exceptions.raise_compiler_error(origin ~ " must be a date as YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
  {%- else -%}
    {%- set value = modules.datetime.datetime.now(modules.pytz.utc).strftime('%Y-%m-%d') -%}
  {%- endif -%}
  cast('{{ value }}' as date)
  {%- endif -%}
{%- endmacro %}


{#- The integers 0 .. 10^digits - 1 as a relation with one column `n` (portable: no generate_series). -#}
{% macro integers(digits=4) -%}
  select
    {% for i in range(digits) %}d{{ i }}.n * {{ 10 ** i }}{{ ' + ' if not loop.last }}{% endfor %} as n
  from
    {% for i in range(digits) -%}
    (select 0 as n union all select 1 union all select 2 union all select 3 union all select 4
     union all select 5 union all select 6 union all select 7 union all select 8 union all select 9) as d{{ i }}
    {{- ' cross join ' if not loop.last }}
    {% endfor %}
{%- endmacro %}
