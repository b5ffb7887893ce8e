{#
  SPEC §2.2 row rules.
  orb_latest_version: mutable and append-only resources keep one row per key, the greatest updated_at;
    on a tie the row from the delivery file whose name sorts last (then the later row of that file).
  orb_distinct_events: _event resources keep every fact once (the last delivered copy); a revert has its
    own id, so it is never merged into its original.

  Rows whose key appears once pass straight through; only keys delivered more than once are ranked. A
  window over every row of a 12-million-row feed carries all its columns through a sort (7 GB at 20,000
  customers x 24 months); ranking only the repeated keys streams the rest (scripts/bench.py).
#}

{% macro orb_latest_version(relation, key, order_by='updated_at desc, source_file desc, source_row desc') -%}
  select * from {{ relation }}
  where {{ key }} not in (select {{ key }} from {{ relation }} group by {{ key }} having count(*) > 1)

  union all

  select * from (
      select * from {{ relation }}
      where {{ key }} in (select {{ key }} from {{ relation }} group by {{ key }} having count(*) > 1)
      qualify row_number() over (partition by {{ key }} order by {{ order_by }}) = 1
  ) as repeated_versions
{%- endmacro %}


{% macro orb_distinct_events(relation, key) -%}
  {{ orb_latest_version(relation, key, order_by='source_file desc, source_row desc') }}
{%- endmacro %}
