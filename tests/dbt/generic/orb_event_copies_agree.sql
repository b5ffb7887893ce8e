{#-
  SPEC §2.2 rule 3: an `_event` row is an immutable fact, so every copy of one event id that Orb delivers must say
  the same thing. Staging keeps one copy; this test, on the event resource's source, stops the build when two
  copies differ (an event that "changed" is a data problem: which copy is right is a question for Orb, not a rule
  to pick one). It errors with a message naming the id, the two files and rows, and each differing column with its
  two values, e.g.
    Orb export credit_ledger_entry_event: event cle_evt_1 was delivered with different values (an event never
    changes): file .../2026-10-31-0000.csv row 1 and file .../2026-11-01-0000.csv row 1 differ in
    recognized_revenue_amount ('0.00' vs '777777.00') (and 2 more events)

  Values are compared as their types (dec as a decimal, ts as a UTC timestamp: '0.00' and '0' agree, so do a CSV
  and a parquet copy); `updated_at` is left out (the delivery's bookkeeping, not the fact).

  It reads the source (the files this build reads), so it runs before the staging model merges them. On DuckDB an
  incremental night also compares each new copy with the copy already staged from an earlier night (read from the
  staged table before this night's merge replaces it). `renamed`: source column -> staged column where staging
  renames one (id -> event_id, ...). Spark-safe SQL; it needs no staged table there (Spark stages in full).
-#}
{% test orb_event_copies_agree(model, renamed={}) %}
  {%- set resource = model.identifier -%}
  {%- set src = (graph.get('sources') or {}).get('source.' ~ project_name ~ '.orb.' ~ resource) -%}
  {%- if not execute -%}
    select 1 as parsing where 1 = 0
  {%- elif src is none -%}
    {{ exceptions.raise_compiler_error("orb_event_copies_agree is a test of an Orb source (models/staging/orb/_orb__sources.yml), not of " ~ model) }}
  {%- else -%}
  {%- set compared = src.columns.values() | rejectattr('name', 'in', ['id', 'updated_at']) | list -%}
  {%- set text = dbt.type_string() -%}

  {#- The staged table, when this build merges new files into it (DuckDB, incremental). -#}
  {%- set staged = none -%}
  {%- set plan = graph.get('orb_delivery_plan') or {} -%}
  {%- if execute and (plan.get('modes') or {}).get(resource) == 'incremental' -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.stg_orb__' ~ resource) -%}
    {%- set staged = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) if node else none -%}
    {%- if staged is not none -%}
      {%- set staged_columns = adapter.get_columns_in_relation(staged) | map(attribute='name') | map('lower') | list -%}
      {%- for col in compared + [{'name': 'id'}] if renamed.get(col.name, col.name) | lower not in staged_columns -%}
        {{ exceptions.raise_compiler_error("orb_event_copies_agree: " ~ staged ~ " has no column '" ~ renamed.get(col.name, col.name)
                                           ~ "' for the source column '" ~ col.name ~ "' (pass it in `renamed`)") }}
      {%- endfor -%}
    {%- endif -%}
  {%- endif -%}
  {%- set staged_id = renamed.get('id', 'id') -%}

with source_ids as (

    select cast(id as {{ text }}) as event_id, count(*) as n_copies
    from {{ model }}
    group by cast(id as {{ text }})

),
{%- if staged is not none %}

{#- The staged rows of the events this build delivers again: found by their id alone, then read by row id, so
    only those rows' columns are read (read with the id, every column of the staged table is scanned: 2 s more
    on a night of a 12 M-row table). rowid is DuckDB's; a staged table exists only on DuckDB. #}
staged_hits as (

    select rowid as staged_rowid, cast({{ staged_id }} as {{ text }}) as event_id
    from {{ staged }}
    where cast({{ staged_id }} as {{ text }}) in (select event_id from source_ids)

),
{%- endif %}

copies as (

    select cast(id as {{ text }}) as event_id, _file as copy_file, _row as copy_row, 0 as is_staged
        {%- for col in compared %},
        {{ orb_contract_value(col.name, col.data_type) }} as v{{ loop.index }}, cast({{ col.name }} as {{ text }}) as t{{ loop.index }}
        {%- endfor %}
    from {{ model }}
    where cast(id as {{ text }}) in (
        select event_id from source_ids where n_copies > 1
        {%- if staged is not none %}
        union all
        select event_id from staged_hits
        {%- endif %}
    )
    {%- if staged is not none %}

    union all

    select cast({{ staged_id }} as {{ text }}), source_file, source_row, 1
        {%- for col in compared %},
        {{ orb_contract_value(renamed.get(col.name, col.name), col.data_type) }}, cast({{ renamed.get(col.name, col.name) }} as {{ text }})
        {%- endfor %}
    from {{ staged }}
    where rowid in (select staged_rowid from staged_hits)
    {%- endif %}

),

ranked as (

    select *, row_number() over (partition by event_id order by is_staged desc, copy_file, copy_row) as copy_n
    from copies

),

differing as (

    select
        later.event_id,
        'file ' || earlier.copy_file || ' row ' || cast(earlier.copy_row as {{ text }})
            || ' and file ' || later.copy_file || ' row ' || cast(later.copy_row as {{ text }}) as where_found,
        concat_ws(', '
            {%- for col in compared %},
            case when earlier.v{{ loop.index }} is distinct from later.v{{ loop.index }}
                 then '{{ col.name }} (' || coalesce('''' || earlier.t{{ loop.index }} || '''', 'null') || ' vs '
                      || coalesce('''' || later.t{{ loop.index }} || '''', 'null') || ')' end
            {%- endfor %}
        ) as columns_differing
    from ranked as earlier
    join ranked as later
        on later.event_id = earlier.event_id
       and earlier.copy_n = 1
       and later.copy_n > 1

),

found as (

    select min(event_id || ' was delivered with different values (an event never changes): ' || where_found
               || ' differ in ' || columns_differing) as first_problem,
           count(distinct event_id) as n_events
    from differing
    where columns_differing <> ''
    having count(*) > 0

)

{#- The error is raised in the filter: a column the test's count(*) does not read could be pruned unevaluated. -#}
select first_problem
from found
where {{ orb_raise("'Orb export " ~ resource ~ ": event ' || first_problem || case when n_events > 1 then ' (and ' || cast(n_events - 1 as "
                   ~ text ~ ") || ' more events)' else '' end") }} is null

  {%- endif -%}
{% endtest %}

