{#
  SPEC §2.2 row rules.
  orb_latest_version: mutable and append-only resources keep one row per key, the greatest updated_at;
    on a tie the row from the delivery file whose name sorts last (then the later row of that file).
  orb_distinct_events: _event resources keep every fact once; a revert has its own id, so it is never
    merged into its original.
#}

{% macro orb_latest_version(relation, key) -%}
  select *
  from {{ relation }}
  qualify row_number() over (
      partition by {{ key }}
      order by updated_at desc, source_file desc, source_row desc
  ) = 1
{%- endmacro %}


{% macro orb_distinct_events(relation, key) -%}
  select *
  from {{ relation }}
  qualify row_number() over (
      partition by {{ key }}
      order by source_file desc, source_row desc
  ) = 1
{%- endmacro %}
