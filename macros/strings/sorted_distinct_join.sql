{#- Distinct non-empty values of a text column, sorted, joined by a separator ('' when there are none). -#}
{% macro sorted_distinct_join(column, separator=', ') -%}
  {{ return(adapter.dispatch('sorted_distinct_join', 'orb_finance')(column, separator)) }}
{%- endmacro %}

{% macro default__sorted_distinct_join(column, separator) -%}
  coalesce(string_agg(distinct nullif(trim({{ column }}), ''), '{{ separator }}' order by nullif(trim({{ column }}), '')), '')
{%- endmacro %}

{% macro spark__sorted_distinct_join(column, separator) -%}
  array_join(array_sort(collect_set(nullif(trim({{ column }}), ''))), '{{ separator }}')
{%- endmacro %}
