{#- The grain test: the given columns are unique together (no rows share all of them). -#}
{% test unique_combination(model, columns) %}
  select {{ columns | join(', ') }}, count(*) as row_count
  from {{ model }}
  group by {{ columns | join(', ') }}
  having count(*) > 1
{% endtest %}
