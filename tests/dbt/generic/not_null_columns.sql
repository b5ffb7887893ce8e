{#- The not-null test of a model: none of the given columns holds a null. One query and one test node per model,
    not one per column (dbt's own not_null): every test node costs dbt about a tenth of a second of its own work,
    whatever the rows (DECISIONLOG "Not-null checks: one test per model, constraints on the marts"). A failure
    returns one row per column that holds nulls, with how many. Contracted marts declare
    `constraints: [{type: not_null}]` instead, which the database enforces as it builds the table. -#}
{% test not_null_columns(model, columns) %}
  with null_counts as (
    select
    {%- for column in columns %}
      count(*) - count({{ column }}) as nulls_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
  )
  {%- for column in columns %}
  select '{{ column }}' as column_name, nulls_{{ loop.index }} as null_rows from null_counts where nulls_{{ loop.index }} > 0
  {{ "union all" if not loop.last }}
  {%- endfor %}
{% endtest %}
