{#- Unix seconds (as Stripe sends `created`) to a UTC timestamp. -#}
{% macro from_unix_seconds(column) -%}
  {{ return(adapter.dispatch('from_unix_seconds', 'orb_finance')(column)) }}
{%- endmacro %}

{% macro default__from_unix_seconds(column) -%}
  cast(to_timestamp({{ column }}) as timestamp)
{%- endmacro %}

{% macro spark__from_unix_seconds(column) -%}
  timestamp_seconds({{ column }})
{%- endmacro %}
