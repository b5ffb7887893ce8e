{#- A top-level field of a JSON text column, as text (null when absent). -#}
{% macro json_text_field(column, field) -%}
  {{ return(adapter.dispatch('json_text_field', 'orb_finance')(column, field)) }}
{%- endmacro %}

{% macro default__json_text_field(column, field) -%}
  json_extract_string({{ column }}, '$.{{ field }}')
{%- endmacro %}

{% macro spark__json_text_field(column, field) -%}
  get_json_object({{ column }}, '$.{{ field }}')
{%- endmacro %}
