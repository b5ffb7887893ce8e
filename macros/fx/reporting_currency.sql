{#
  SPEC §3 "Reporting currency": the optional dbt var `reporting_currency` (an ISO 4217 code, e.g. USD) and the
  rate file (CSV: rate_date, currency, rate = units of the reporting currency for 1 unit of `currency`) at the
  dbt var `fx_rates_path`, else the environment variable ORB_FX_RATES_PATH; relative to the project.

  register_fx_rates (an on-run-start hook) makes the source view `fx.rates` over that file, with `_file` and
  `_row` (the record's 1-based position) for error messages; without a reporting currency it is an empty view,
  so the three reporting marts build empty and the build needs no rate file.
#}

{#- The reporting currency, upper-cased, or none when the var is unset or empty. -#}
{% macro reporting_currency() %}
  {%- set configured = var('reporting_currency', none) -%}
  {%- if configured is none or (configured | string | trim) == '' -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set code = configured | string | trim | upper -%}
  {%- if not modules.re.match('^[A-Z]{3}$', code) -%}
    {{ exceptions.raise_compiler_error("reporting_currency must be an ISO 4217 currency code such as USD, got '"
                                       ~ configured ~ "'") }}
  {%- endif -%}
  {{ return(code) }}
{% endmacro %}


{#- The reporting currency as a SQL string literal (null without one). -#}
{% macro reporting_currency_sql() -%}
  {%- set code = reporting_currency() -%}
  {%- if code -%}cast('{{ code }}' as {{ dbt.type_string() }}){%- else -%}cast(null as {{ dbt.type_string() }}){%- endif -%}
{%- endmacro %}


{#- The rate file's absolute path: var fx_rates_path, else env ORB_FX_RATES_PATH; relative to the project.
    Not configured: an error, or '' when not `required` (a message that only names the file). -#}
{% macro fx_rates_path(required=true) %}
  {%- set configured = var('fx_rates_path', none) or env_var('ORB_FX_RATES_PATH', '') -%}
  {%- if (not configured or (configured | string | trim) == '') and not required -%}
    {{ return('') }}
  {%- elif not configured or (configured | string | trim) == '' -%}
    {{ exceptions.raise_compiler_error(
        "reporting_currency is " ~ reporting_currency() ~ " but no rate file is configured: set the dbt var "
        ~ "fx_rates_path (--vars '{fx_rates_path: /path/to/rates.csv}') or the environment variable ORB_FX_RATES_PATH "
        ~ "(CSV with columns rate_date, currency, rate).") }}
  {%- endif -%}
  {%- set configured = configured | string | trim -%}
  {%- if not configured.startswith('/') and ':/' not in configured -%}
    {%- set configured = invocation_args_dict.get('project_dir', '.') ~ '/' ~ configured -%}
  {%- endif -%}
  {{ return(configured) }}
{% endmacro %}


{% macro fx_rates_source() %}
  {%- for src in graph.sources.values() if src.source_name == 'fx' and src.name == 'rates' -%}
    {{ return(src) }}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("the source fx.rates is not declared (models/staging/fx/_fx__sources.yml)") }}
{% endmacro %}


{% macro register_fx_rates() %}
  {{ return(adapter.dispatch('register_fx_rates', 'orb_finance')()) }}
{% endmacro %}


{% macro fx_rates_empty_sql() -%}
  select cast(null as {{ dbt.type_string() }}) as rate_date, cast(null as {{ dbt.type_string() }}) as currency,
         cast(null as {{ dbt.type_string() }}) as rate, cast(null as {{ dbt.type_string() }}) as _file,
         cast(null as bigint) as _row
  where 1 = 0
{%- endmacro %}


{% macro fx_missing_columns(path, present) %}
  {%- set missing = [] -%}
  {%- for col in ['rate_date', 'currency', 'rate'] if col not in present -%}{%- do missing.append(col) -%}{%- endfor -%}
  {%- if missing -%}
    {{ exceptions.raise_compiler_error("Rate file " ~ path ~ ": missing column(s) " ~ missing | join(', ')
                                       ~ " (expected a CSV header rate_date,currency,rate)") }}
  {%- endif -%}
{% endmacro %}


{% macro default__register_fx_rates() %}
  {% if execute %}
    {% set src = fx_rates_source() %}
    {% set relation = api.Relation.create(database=src.database, schema=src.schema, identifier=src.identifier) %}
    {% do adapter.create_schema(relation) %}
    {% if reporting_currency() is none %}
      {% set body = fx_rates_empty_sql() %}
    {% else %}
      {% set path = fx_rates_path() %}
      {% if run_query("select count(*) from glob(" ~ orb_sql_literal(path) ~ ")").rows[0][0] == 0 %}
        {{ exceptions.raise_compiler_error("Rate file " ~ path ~ " does not exist (reporting_currency "
                                           ~ reporting_currency() ~ " needs it)") }}
      {% endif %}
      {% set reader = "read_csv(" ~ orb_sql_literal(path) ~ ", header = true, all_varchar = true, auto_detect = true)" %}
      {% set present = {} %}
      {% for row in run_query("describe select * from " ~ reader).rows %}
        {% do present.update({row[0] | lower: row[0]}) %}
      {% endfor %}
      {% do fx_missing_columns(path, present) %}
      {% set body %}
        select {{ adapter.quote(present['rate_date']) }} as rate_date, {{ adapter.quote(present['currency']) }} as currency,
               {{ adapter.quote(present['rate']) }} as rate, {{ orb_sql_literal(path) }} as _file,
               cast(row_number() over () as bigint) as _row
        from {{ reader }}
      {% endset %}
    {% endif %}
    {% do run_query("create or replace view " ~ relation ~ " as\n" ~ body) %}
  {% endif %}
{% endmacro %}


{#- Spark: a csv table over the file (every column text, RFC 4180 quotes), record number in file order (one
    file, one split). Spark SQL cannot tell whether a file exists: orbfin checks it before dbt runs. -#}
{% macro spark__register_fx_rates() %}
  {% if execute %}
    {% set src = fx_rates_source() %}
    {% do run_query("create schema if not exists " ~ src.schema) %}
    {% set view = src.schema ~ "." ~ src.identifier %}
    {% if reporting_currency() is none %}
      {% do run_query("create or replace view " ~ view ~ " as " ~ fx_rates_empty_sql()) %}
    {% else %}
      {% set path = fx_rates_path() %}
      {% set file_table = src.schema ~ "." ~ src.identifier ~ "__file" %}
      {% do run_query("drop table if exists " ~ file_table) %}
      {% do run_query("create table " ~ file_table ~ " using csv options (path " ~ orb_sql_literal(path)
                      ~ ", header 'true', multiLine 'true', quote '\"', escape '\"', mode 'FAILFAST')") %}
      {% set present = {} %}
      {% for row in run_query("describe query select * from " ~ file_table).rows %}
        {% do present.update({row[0] | lower: row[0]}) %}
      {% endfor %}
      {% do fx_missing_columns(path, present) %}
      {% do run_query("create or replace view " ~ view ~ " as select `" ~ present['rate_date'] ~ "` as rate_date, `"
                      ~ present['currency'] ~ "` as currency, `" ~ present['rate'] ~ "` as rate, "
                      ~ orb_sql_literal(path) ~ " as _file, cast(row_number() over (order by _fx_seq) as bigint) as _row "
                      ~ "from (select *, monotonically_increasing_id() as _fx_seq from " ~ file_table ~ ") as delivered") %}
    {% endif %}
  {% endif %}
{% endmacro %}


{#- Stop the build on a bad value of the rate file, naming file, row and column (as orb_value_error does for
    the Orb export). -#}
{% macro fx_value_error(column, problem_sql) -%}
  {{ orb_raise("'Rate file ' || coalesce(_file, '?') || ', row ' || coalesce(cast(_row as " ~ dbt.type_string()
               ~ "), '?') || ', column " ~ column ~ ": ' || " ~ problem_sql) }}
{%- endmacro %}


{#- An amount converted to the reporting currency: amount x rate, rounded per row to the reporting currency's
    minor unit, half away from zero (SPEC §3). The operands are narrowed so the product is exact on both
    engines (Spark widens p1 + p2 + 1 digits and drops decimals beyond 38): amounts up to 10^13, rates up to
    10^6 with 12 decimals. -#}
{% macro to_reporting_currency(amount, rate, reporting_minor_unit) -%}
  {{ round_to_minor_unit("cast(" ~ amount ~ " as decimal(19, 6)) * cast(" ~ rate ~ " as decimal(18, 12))", reporting_minor_unit) }}
{%- endmacro %}


{#- Each amount column of `source`, followed by its conversion at the month's average rate of `rates`
    (int_fx_rates_monthly), named <column>_reporting: the columns of a *_reporting mart. -#}
{% macro amounts_at_average_rate(columns, source, rates) -%}
  {%- for column in columns %}
        {{ source }}.{{ column }},
        {{ to_reporting_currency(source ~ '.' ~ column, rates ~ '.average_rate', rates ~ '.reporting_minor_unit') }} as {{ column }}_reporting
        {{- ',' if not loop.last }}
  {%- endfor %}
{%- endmacro %}
