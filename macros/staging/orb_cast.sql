{#
  Parse one column of an Orb feed. Each macro is the cast *and* the check: a value that does not parse
  stops the build with a message naming resource, file, row and column, e.g.
    Orb export invoice_metadata: file /exports/invoice_metadata/2026-11-01.csv, row 17, column total:
    'abc' is not a decimal amount (at most 12 digits before the point and 6 after)
  They read `_file` and `_row` from the source view (see register_orb_sources) and are used in the
  `typed` CTE of every stg_orb__* model, which is materialized as a table so every row is checked.

  On DuckDB a column that already arrives in its staged type (a parquet DECIMAL that fits, a TIMESTAMP, a
  BOOLEAN: register_orb_sources records the view's column types for the run) is taken as it is: it cannot
  fail to parse, so only the null check stays. Text goes through the full parse and check.
#}

{% macro orb_resource_name() -%}
  {{- model.name | replace('stg_orb__', '') -}}
{%- endmacro %}


{% macro orb_raise(message_sql) -%}
  {{ return(adapter.dispatch('orb_raise', 'orb_finance')(message_sql)) }}
{%- endmacro %}

{% macro default__orb_raise(message_sql) -%}
  error({{ message_sql }})
{%- endmacro %}

{% macro spark__orb_raise(message_sql) -%}
  raise_error({{ message_sql }})
{%- endmacro %}


{% macro orb_value_error(column, problem_sql) -%}
  {{ orb_raise("'Orb export " ~ orb_resource_name() ~ ": file ' || coalesce(_file, '?') || ', row ' || "
               ~ "coalesce(cast(_row as " ~ dbt.type_string() ~ "), '?') || ', column " ~ column ~ ": ' || " ~ problem_sql) }}
{%- endmacro %}


{% macro orb_quoted_value(column) -%}
  '''' || cast({{ column }} as {{ dbt.type_string() }}) || ''''
{%- endmacro %}


{#- The shared shape: null stays null (or is an error when required), a value that does not parse is an
    error, anything else is the parsed value. -#}
{% macro orb_parse(column, parsed_sql, problem, required=false) -%}
  case
    when {{ column }} is null then
      {%- if required %} {{ orb_value_error(column, "'is null (required)'") }}{% else %} null{% endif %}
    when {{ parsed_sql }} is null then {{ orb_value_error(column, orb_quoted_value(column) ~ " || ' " ~ problem ~ "'") }}
    else {{ parsed_sql }}
  end
{%- endmacro %}


{#- The type this run's source view gives `column` (DuckDB; none when unknown, e.g. on Spark). -#}
{% macro orb_source_type(column) -%}
  {%- set types = (graph.get('orb_source_types') or {}).get(orb_resource_name()) or {} -%}
  {{ return(types.get(column | replace('"', '') | replace('`', '') | lower)) }}
{%- endmacro %}


{#- A value that needs no parsing: null stays null (or is an error when required), anything else is itself. -#}
{% macro orb_typed(column, value_sql, required=false) -%}
  {%- if required -%}
  case when {{ column }} is null then {{ orb_value_error(column, "'is null (required)'") }} else {{ value_sql }} end
  {%- else -%}
  {{ value_sql }}
  {%- endif -%}
{%- endmacro %}


{% macro orb_id(column) -%}
  {%- if orb_source_type(column) == 'VARCHAR' -%}
    {{ orb_typed(column, column, required=true) }}
  {%- else -%}
    {{ orb_parse(column, "cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")", "is not an id", required=true) }}
  {%- endif -%}
{%- endmacro %}


{% macro orb_string(column, required=false) -%}
  {%- if required and orb_source_type(column) == 'VARCHAR' -%}
    {{ orb_typed(column, column, required=true) }}
  {%- elif required -%}
    {{ orb_parse(column, "cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")", "is not text", required=true) }}
  {%- else -%}
    cast({{ column }} as {{ dbt.type_string() }})
  {%- endif -%}
{%- endmacro %}


{% macro orb_json(column) -%}
  cast({{ column }} as {{ dbt.type_string() }})
{%- endmacro %}


{#- What a text value must look like before it is cast (anchored at both ends; spaces around it are allowed). The
    engines' casts are lenient beyond Orb's formats: DuckDB reads '1_000' as 1000, '0x10' as the integer 16, '.5' as
    the integer 1, 'infinity' and 'epoch' as timestamps, '-2026-01-01' as a date BC. Those are refused, naming the
    value, where a plain decimal, an ISO 8601 date or timestamp is expected. -#}
{% macro orb_text_pattern(kind) -%}
  {%- set patterns = {
      'decimal': ' *[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+) *',
      'integer': ' *[+-]?[0-9]+ *',
      'date': ' *[0-9]{4}-[0-9]{2}-[0-9]{2} *',
      'timestamp': ' *[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)? *(Z|z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)? *',
  } -%}
  {{- return(patterns[kind]) -}}
{%- endmacro %}

{#- Whether a text value has the form of `kind` (orb_text_pattern): true, false, or null for null. -#}
{% macro orb_looks_like(column, kind) -%}
  {{ return(adapter.dispatch('orb_looks_like', 'orb_finance')(column, orb_text_pattern(kind))) }}
{%- endmacro %}

{% macro default__orb_looks_like(column, pattern) -%}
  regexp_full_match(cast({{ column }} as {{ dbt.type_string() }}), '{{ pattern }}')
{%- endmacro %}

{% macro spark__orb_looks_like(column, pattern) -%}
  (cast({{ column }} as {{ dbt.type_string() }}) rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{#- A cast of text that has the form of `kind` (else null, so orb_parse reports it). -#}
{% macro orb_cast_text(column, kind, cast_sql) -%}
  case when {{ orb_looks_like(column, kind) }} then {{ cast_sql }} end
{%- endmacro %}


{#- Decimals: a value with more decimals than the type holds is an error, never silently rounded. -#}
{% macro orb_decimal(column, precision=18, scale=6, required=false) -%}
  {%- if orb_holds_exactly(orb_source_type(column), precision, scale) -%}
    {{ return(orb_typed(column, "cast(" ~ column ~ " as decimal(" ~ precision ~ ", " ~ scale ~ "))", required=required)) }}
  {%- endif -%}
  {%- set parsed = "try_cast(" ~ column ~ " as decimal(" ~ precision ~ ", " ~ scale ~ "))" -%}
  {%- set exact = "try_cast(" ~ column ~ " as decimal(38, 18))" -%}
  {%- set checked = orb_cast_text(column, 'decimal', "case when " ~ parsed ~ " = " ~ exact ~ " then " ~ parsed ~ " end") -%}
  {{ orb_parse(column, checked,
               "is not a decimal number (at most " ~ (precision - scale) ~ " digits before the point and " ~ scale ~ " after)",
               required=required) }}
{%- endmacro %}

{#- Money amounts of one row: decimal(18, 6). -#}
{% macro orb_amount(column, required=false) -%}
  {{ orb_decimal(column, 18, 6, required=required) }}
{%- endmacro %}

{#- Quantities, conversion rates, per-credit cost bases: decimal(28, 12). -#}
{% macro orb_rate(column, required=false) -%}
  {{ orb_decimal(column, 28, 12, required=required) }}
{%- endmacro %}


{#- Whether every value of a (DuckDB) column type converts to decimal(precision, scale) exactly. -#}
{% macro orb_holds_exactly(source_type, precision, scale) -%}
  {%- set integer_digits = {'TINYINT': 3, 'SMALLINT': 5, 'INTEGER': 10, 'BIGINT': 19,
                            'UTINYINT': 3, 'USMALLINT': 5, 'UINTEGER': 10, 'UBIGINT': 20} -%}
  {%- if source_type is none -%}{{ return(false) }}
  {%- elif source_type in integer_digits -%}{{ return(integer_digits[source_type] <= precision - scale) }}
  {%- elif source_type.startswith('DECIMAL(') -%}
    {%- set ps = source_type[8:-1].split(',') -%}
    {{ return((ps[1] | int) <= scale and (ps[0] | int) - (ps[1] | int) <= precision - scale) }}
  {%- else -%}{{ return(false) }}
  {%- endif -%}
{%- endmacro %}


{% macro orb_integer(column, required=false) -%}
  {%- if orb_source_type(column) in ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'UTINYINT', 'USMALLINT', 'UINTEGER') -%}
    {{ return(orb_typed(column, "cast(" ~ column ~ " as bigint)", required=required)) }}
  {%- endif -%}
  {{ orb_parse(column, orb_cast_text(column, 'integer', "try_cast(" ~ column ~ " as bigint)"), "is not a whole number", required=required) }}
{%- endmacro %}


{% macro orb_boolean(column, required=false) -%}
  {%- if orb_source_type(column) == 'BOOLEAN' -%}
    {{ return(orb_typed(column, column, required=required)) }}
  {%- endif -%}
  {{ orb_parse(column, "try_cast(" ~ column ~ " as boolean)", "is not true or false", required=required) }}
{%- endmacro %}


{% macro orb_date(column, required=false) -%}
  {%- if orb_source_type(column) == 'DATE' -%}
    {{ return(orb_typed(column, column, required=required)) }}
  {%- endif -%}
  {{ orb_parse(column, orb_cast_text(column, 'date', "try_cast(" ~ column ~ " as date)"), "is not a date (YYYY-MM-DD)", required=required) }}
{%- endmacro %}


{% macro orb_timestamp(column, required=false) -%}
  {%- if orb_source_type(column) in ('TIMESTAMP', 'TIMESTAMP WITH TIME ZONE') -%}
    {{ orb_typed(column, orb_timestamp_value(column), required=required) }}
  {%- else -%}
    {{ orb_parse(column, orb_cast_text(column, 'timestamp', orb_try_timestamp(column)),
                 "is not a timestamp (ISO 8601: YYYY-MM-DD, optionally a time and a UTC offset)", required=required) }}
  {%- endif -%}
{%- endmacro %}

{#- The parsed value alone (null when it does not parse): what deduplication orders by. -#}
{% macro orb_timestamp_value(column) -%}
  {%- if orb_source_type(column) == 'TIMESTAMP' -%}
    {{ column }}
  {%- elif orb_source_type(column) == 'TIMESTAMP WITH TIME ZONE' -%}
    cast({{ column }} as timestamp)
  {%- else -%}
    {{ orb_try_timestamp(column) }}
  {%- endif -%}
{%- endmacro %}

{#- To a UTC timestamp without time zone; strings with an offset are converted to UTC (the session
    time zone is UTC on both engines: profiles.yml). -#}
{% macro orb_try_timestamp(column) -%}
  {{ return(adapter.dispatch('orb_try_timestamp', 'orb_finance')(column)) }}
{%- endmacro %}

{% macro default__orb_try_timestamp(column) -%}
  cast(try_cast({{ column }} as timestamptz) as timestamp)
{%- endmacro %}

{% macro spark__orb_try_timestamp(column) -%}
  try_cast({{ column }} as timestamp)
{%- endmacro %}


{#- An Orb enumeration: the allowed values are the dbt var orb_enums[enum_name]. -#}
{% macro orb_enum(column, enum_name, required=false) -%}
  {%- set values = var('orb_enums')[enum_name] -%}
  {%- set parsed -%}
    case when cast({{ column }} as {{ dbt.type_string() }}) in (
      {%- for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor -%}
    ) then cast({{ column }} as {{ dbt.type_string() }}) end
  {%- endset -%}
  {{ orb_parse(column, parsed, "is not one of: " ~ values | join(', '), required=required) }}
{%- endmacro %}


{#- A source column's value as its contract type (SPEC §2.1: dec, int, bool, date, ts, else text), null where it does
    not parse; for comparing copies of one record delivered as text or typed (tests/dbt/generic/orb_event_copies_agree). -#}
{% macro orb_contract_value(column, data_type) -%}
  {%- if data_type == 'dec' -%} try_cast({{ column }} as decimal(38, 18))
  {%- elif data_type == 'int' -%} try_cast({{ column }} as bigint)
  {%- elif data_type == 'bool' -%} try_cast({{ column }} as boolean)
  {%- elif data_type == 'date' -%} try_cast({{ column }} as date)
  {%- elif data_type == 'ts' -%} {{ orb_try_timestamp(column) }}
  {%- else -%} cast({{ column }} as {{ dbt.type_string() }})
  {%- endif -%}
{%- endmacro %}
