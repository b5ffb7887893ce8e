{#- Custom schemas are used verbatim (staging, intermediate, marts, seeds): finance queries
    `marts.billings_monthly` whatever the target is called. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {{ target.schema }}
  {%- else -%}
    {{ custom_schema_name | trim }}
  {%- endif -%}
{%- endmacro %}
