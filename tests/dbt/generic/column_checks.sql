{#- The column checks of a model, in one test node: never null, unique, unique together, one of the accepted values,
    present in the referenced model. They are dbt's own not_null, unique, accepted_values and relationships tests,
    with the same meaning, written as one query per model instead of one test node per column: every test node costs
    dbt about a tenth of a second of its own work whatever the rows (DECISIONLOG "Column checks: one test per
    model"). A failure returns one row per failing check: which check, which column(s), how many rows (for
    `unique`, how many values repeat; for `accepted_values`, how many rows hold another value) and one example,
    e.g. `unique | invoice_id | 2 | inv_7`.

    Arguments (each optional):
      not_null:           [column, ...]
      unique:             [column, ...]              a value may not repeat (nulls are not compared, as dbt's unique)
      unique_combination: [[column, column], ...]    the columns are unique together (the model's grain)
      accepted_values:    {column: [value, ...]}     nulls pass, as in dbt's accepted_values
      relationships:      [{column: c, to: ref('m'), field: f}, ...]    nulls pass, as in dbt's relationships
    A check that must warn rather than fail, or that reads only some rows (`where`), is a test of its own with that
    config (e.g. `grain_revenue_daily`, a `column_checks` that reads the keys a night recomputed). -#}
{% test column_checks(model, not_null=[], unique=[], unique_combination=[], accepted_values={}, relationships=[]) %}
  {%- set text = dbt.type_string() -%}
  {%- set checks = [] -%}

  {#- the nulls of every listed column, counted in one scan (null_counts, below) -#}
  {%- for column in not_null -%}
    {%- do checks.append("select 'not_null' as check_name, '" ~ column ~ "' as column_name, nulls_" ~ loop.index
                         ~ " as failing_rows, cast(null as " ~ text ~ ") as example from null_counts") -%}
  {%- endfor -%}

  {%- for column in unique -%}
    {%- do checks.append("select 'unique' as check_name, '" ~ column ~ "' as column_name, count(*) as failing_rows, min(cast(" ~ column ~ " as " ~ text ~ ")) as example from ("
                         ~ "select " ~ column ~ " from " ~ model ~ " where " ~ column ~ " is not null group by "
                         ~ column ~ " having count(*) > 1) as repeated") -%}
  {%- endfor -%}

  {%- for columns in unique_combination -%}
    {%- set casts = [] -%}
    {%- for column in columns -%}
      {%- do casts.append("coalesce(cast(" ~ column ~ " as " ~ text ~ "), 'null')") -%}
    {%- endfor -%}
    {%- do checks.append("select 'unique_combination' as check_name, '" ~ columns | join(", ") ~ "' as column_name, count(*) as failing_rows, min("
                         ~ casts | join(" || ', ' || ") ~ ") as example from (select " ~ columns | join(", ") ~ " from " ~ model ~ " group by " ~ columns | join(", ")
                         ~ " having count(*) > 1) as repeated") -%}
  {%- endfor -%}

  {%- for column, values in accepted_values.items() -%}
    {%- for value in values if "'" in (value | string) -%}
      {{ exceptions.raise_compiler_error("column_checks: the accepted value " ~ value ~ " of " ~ column ~ " holds a quote") }}
    {%- endfor -%}
    {%- do checks.append("select 'accepted_values' as check_name, '" ~ column ~ "' as column_name, count(*) as failing_rows, min(cast("
                         ~ column ~ " as " ~ text ~ ")) as example"
                         ~ " from " ~ model ~ " where " ~ column ~ " is not null and cast(" ~ column ~ " as " ~ text
                         ~ ") not in ('" ~ values | join("', '") ~ "')") -%}
  {%- endfor -%}

  {%- for rel in relationships -%}
    {%- do checks.append("select 'relationships' as check_name, '" ~ rel.column ~ " -> " ~ rel.to.identifier ~ "." ~ rel.field
                         ~ "' as column_name, count(*) as failing_rows, min(cast(child.from_field as " ~ text ~ ")) as example from (select " ~ rel.column ~ " as from_field from "
                         ~ model ~ ") as child left join (select distinct " ~ rel.field ~ " as to_field from " ~ rel.to
                         ~ ") as parent on child.from_field = parent.to_field"
                         ~ " where child.from_field is not null and parent.to_field is null") -%}
  {%- endfor -%}

  {%- if not checks -%}
    {{ exceptions.raise_compiler_error("column_checks on " ~ model ~ " names no check") }}
  {%- endif %}
  {%- if not_null %}
  with null_counts as (
    select
    {%- for column in not_null %}
      count(*) - count({{ column }}) as nulls_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
  )
  {%- endif %}
  select check_name, column_name, failing_rows, example
  from (
    {{ checks | join("\n    union all\n    ") }}
  ) as checked
  where failing_rows > 0
{% endtest %}
