{#
  Incremental models downstream of staging, on DuckDB (SPEC §6: "downstream models rebuild only what the new rows
  touch where that is sound"). A model opts in with incremental_strategy='orb_affected_keys' (materialized
  incremental on DuckDB, a table on Spark); its rows are keyed by (revenue_date, customer_id), and a night
  recomputes only the keys tonight's staged rows can change:

    1. Staging records what each merge replaced: the `orb_merge` strategy of the staging models copies the staged
       rows a night's winners displace into orb_state.displaced_<resource>, and the winners into
       orb_state.merged_<resource>, before the delete+insert. A row "touched" tonight is a merged row (its new
       version) or a displaced row (its old version), so a key whose row moved (another day, another customer, a revert) is
       recomputed on both sides.
    2. Before the model is built (pre-hook, in its transaction) its affected keys are written to
       orb_state.affected__<model>: (revenue_date, customer_id) pairs, or a customer with all_dates (every day
       of that customer). The model's SQL reads only the upstream rows of those keys, and the strategy deletes
       every row of those keys before inserting the recomputed ones (a key whose rows vanished loses them).
    3. After it (post-hook, same transaction) orb_state.downstream_state records the code fingerprint, the
       export root and a digest of orb_state.processed_files over the Orb resources the model reads.

  A run builds a model incrementally only when (orb_plan_downstream, on-run-start) it is not --full-refresh,
  its table exists, every Orb resource merges incrementally tonight (no code change, same export root), the
  model's recorded state matches the staged files as they are before tonight's merge (it was built from
  exactly what is staged: a failed or partial earlier run means a full rebuild), and every table it reads is
  rebuilt in this run (selected) or is itself an incremental model whose state matches. Otherwise its table is
  dropped and built in full. These models read no var.
#}

{% macro orb_downstream_models() %}
  {%- set found = [] -%}
  {%- for node in graph.nodes.values() | sort(attribute='unique_id')
      if node.resource_type == 'model' and node.config.get('incremental_strategy') == 'orb_affected_keys' -%}
    {%- do found.append(node) -%}
  {%- endfor -%}
  {{ return(found) }}
{% endmacro %}


{#- What a model reads, walking its parents: the Orb resources (staging models), the incremental models of this
    kind, and the other tables (which are current only when this run rebuilds them). Views are walked through. -#}
{% macro orb_upstream(node) %}
  {%- set found = {'resources': [], 'incremental': [], 'tables': []} -%}
  {%- set frontier = [] + node.depends_on.nodes -%}
  {%- set seen = [] -%}
  {%- for level in range(100) if frontier -%}
    {%- set next_level = [] -%}
    {%- for uid in frontier if uid not in seen -%}
      {%- do seen.append(uid) -%}
      {%- set parent = graph.nodes.get(uid) -%}
      {%- if parent and parent.resource_type == 'model' -%}
        {%- if parent.name.startswith('stg_orb__') -%}
          {%- do found.resources.append(parent.name | replace('stg_orb__', '')) -%}
        {%- else -%}
          {%- if parent.config.get('incremental_strategy') == 'orb_affected_keys' -%}
            {%- do found.incremental.append(uid) -%}
          {%- elif parent.config.materialized not in ('view', 'ephemeral') -%}
            {%- do found.tables.append(uid) -%}
          {%- endif -%}
          {%- do next_level.extend(parent.depends_on.nodes) -%}
        {%- endif -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do frontier.clear() -%}
    {%- do frontier.extend(next_level) -%}
  {%- endfor -%}
  {{ return(found) }}
{% endmacro %}


{#- A digest of the delivery files staged for these resources (name, size, mtime, when merged; the export root is
    compared apart). -#}
{% macro orb_staged_files_digest_sql(resources) -%}
(select coalesce(md5(string_agg(resource || '|' || regexp_extract(path, '[^/]+$') || '|' || size_bytes || '|' || cast(modified_at as varchar)
                                 || '|' || cast(processed_at as varchar), chr(10) order by resource, path)), 'none')
 from orb_state.processed_files
 where list_contains({{ orb_sql_list(resources | unique | sort) }}, resource))
{%- endmacro %}


{% macro orb_plan_downstream() %}
  {{ return(adapter.dispatch('orb_plan_downstream', 'orb_finance')()) }}
{% endmacro %}

{% macro default__orb_plan_downstream() %}{% endmacro %}

{% macro duckdb__orb_plan_downstream() %}
  {% set plan = graph.get('orb_delivery_plan') %}
  {% if execute and plan %}
    {% do run_query("create table if not exists orb_state.downstream_state (model varchar, code_fingerprint varchar, "
                    ~ "export_root varchar, inputs_digest varchar, last_mode varchar, built_at timestamp)") %}
    {% set state = {} %}
    {% for row in run_query("select model, code_fingerprint, export_root, inputs_digest from orb_state.downstream_state").rows %}
      {% do state.update({row[0]: row}) %}
    {% endfor %}
    {% set every_resource_incremental = plan.modes.values() | reject('equalto', 'incremental') | list | length == 0 %}
    {% set models = orb_downstream_models() %}
    {% set consistent = {} %}
    {% for node in models %}
      {% set known = state.get(node.name) %}
      {% set digest = run_query("select " ~ orb_staged_files_digest_sql(orb_upstream(node).resources)).rows[0][0] %}
      {% do consistent.update({node.unique_id: known is not none and known[1] == plan.fingerprint
                                                and known[2] == plan.root and known[3] == digest}) %}
    {% endfor %}
    {% set modes = {} %}
    {% for node in models %}
      {% set up = orb_upstream(node) %}
      {# safe: every table it reads is current once this run reached it (rebuilt now, or incremental and
         matching what is staged); incremental also needs the incremental ones to change tonight by
         tonight's rows alone (matching before tonight's merge), as its own affected keys assume. #}
      {% set stale, rebuilt = [], [] %}
      {% for uid in up.tables if uid not in selected_resources %}{% do stale.append(uid) %}{% endfor %}
      {% for uid in up.incremental if not consistent.get(uid) %}
        {% do (rebuilt if uid in selected_resources else stale).append(uid) %}
      {% endfor %}
      {% set safe = stale | length == 0 %}
      {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
      {% set incremental = not flags.FULL_REFRESH and relation is not none and every_resource_incremental
                           and consistent[node.unique_id] and safe and rebuilt | length == 0 %}
      {% do modes.update({node.unique_id: {'mode': 'incremental' if incremental else 'full', 'safe': safe,
                                           'resources': up.resources}}) %}
      {% if not incremental and relation is not none and node.unique_id in selected_resources and not flags.FULL_REFRESH %}
        {% do log("Orb: " ~ relation ~ " is rebuilt in full (the project's code, the export or a run before this one "
                  ~ "changed what it was built from)", info=true) %}
        {% do adapter.drop_relation(relation) %}
      {% endif %}
    {% endfor %}
    {# Every staged table gets an empty orb_state.displaced_<resource> and merged_<resource>: a merge tonight fills its own. #}
    {% for resource in plan.modes %}
      {% set stg = graph.nodes.get('model.' ~ project_name ~ '.stg_orb__' ~ resource) %}
      {% set staged = adapter.get_relation(database=stg.database, schema=stg.schema, identifier=stg.alias) if stg else none %}
      {% if staged is not none %}
        {% for kept in ('displaced_', 'merged_') %}
          {% do run_query("create or replace table orb_state." ~ kept ~ resource ~ " as select * from " ~ staged ~ " limit 0") %}
        {% endfor %}
      {% endif %}
    {% endfor %}
    {# What the data tests of these models read exists before any build: every row, until a build says otherwise. #}
    {% for node in models %}
      {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
      {% do run_query("create table if not exists orb_state.tested_keys__" ~ node.alias ~ " as select distinct "
                      ~ "cast(null as date) as revenue_date, " ~ ("customer_id" if relation else "cast(null as varchar) as customer_id")
                      ~ ", true as all_dates" ~ (" from " ~ relation if relation else " where false")) %}
    {% endfor %}
    {% do graph.update({'orb_downstream': modes}) %}
  {% endif %}
{% endmacro %}


{#- This run's mode of the current model: 'incremental' or 'full'. -#}
{% macro orb_downstream_mode() %}
  {%- if not execute or this is none or model.resource_type != 'model' -%}{{ return('full') }}{%- endif -%}
  {%- set planned = (graph.get('orb_downstream') or {}).get(model.unique_id) -%}
  {%- if is_incremental() and (not planned or planned.mode != 'incremental') -%}
    {#- Only a command that builds it needs the plan; `dbt docs generate`, `compile` or `show` on a built warehouse
        compile it as its full build. -#}
    {%- if flags.WHICH in ('run', 'build') -%}
      {{ exceptions.raise_compiler_error(model.name ~ ": its table exists but orb_plan_downstream did not plan an "
                                         ~ "incremental build (run with --full-refresh)") }}
    {%- endif -%}
    {{ return('full') }}
  {%- endif -%}
  {{ return('incremental' if is_incremental() else 'full') }}
{% endmacro %}


{#- The rows of an Orb resource touched tonight: merged from tonight's delivery files (their new version), or
    displaced by them (their old version). Kept by the staging model's merge, which runs before any model using
    this (the staged table is an ancestor). -#}
{% macro orb_touched(resource, columns) -%}
(select {{ columns }} from orb_state.merged_{{ resource }}
 union all
 select {{ columns }} from orb_state.displaced_{{ resource }})
{%- endmacro %}


{% macro orb_staged(resource) -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set stg = graph.nodes['model.' ~ project_name ~ '.stg_orb__' ~ resource] -%}
  {{ api.Relation.create(database=stg.database, schema=stg.schema, identifier=stg.alias) }}
{%- endmacro %}


{#- Pre-hook: orb_state.affected__<model> holds the keys this build recomputes (none on a full build). -#}
{% macro orb_affected_keys_prepare(affected_sql) %}
  {{ return(adapter.dispatch('orb_affected_keys_prepare', 'orb_finance')(affected_sql)) }}
{% endmacro %}

{% macro default__orb_affected_keys_prepare(affected_sql) %}{% endmacro %}

{% macro duckdb__orb_affected_keys_prepare(affected_sql) %}
  {%- if execute %}
create or replace table orb_state.affected__{{ this.identifier }} as
    {%- if orb_downstream_mode() == 'incremental' %}
select distinct cast(revenue_date as date) as revenue_date, cast(customer_id as varchar) as customer_id,
       cast(all_dates as boolean) as all_dates
from ({{ affected_sql }}) as affected
    {%- else %}
select cast(null as date) as revenue_date, cast(null as varchar) as customer_id, false as all_dates where false
    {%- endif %}
  {%- endif %}
{% endmacro %}


{#- Whether a row (`alias`) has one of this build's affected keys. Written as two IN lists of row values (DuckDB
    compares the NULLs inside a row as equal, as `is not distinct from` does): DuckDB plans each as one hash join,
    where two correlated EXISTS joined by OR took 22 s over the 12-million-row daily revenue (scripts/bench.py). -#}
{% macro orb_is_affected(alias, date_column='revenue_date', customer_column='customer_id', model_name=none) -%}
  {{ orb_in_keys(alias ~ '.' ~ date_column, alias ~ '.' ~ customer_column,
                 'orb_state.affected__' ~ (model_name or this.identifier)) }}
{%- endmacro %}

{% macro orb_in_keys(date_expr, customer_expr, keys_table) -%}
(({{ date_expr }}, {{ customer_expr }}) in (select (revenue_date, customer_id) from {{ keys_table }} where not all_dates)
 or ({{ customer_expr }}, 0) in (select (customer_id, 0) from {{ keys_table }} where all_dates))
{%- endmacro %}


{#- The first instant of this build's earliest affected day: a bound on a raw timestamp column (`column >= this`)
    that lets DuckDB skip the row groups of older days. The staged daily revenue lies about in date order, so
    int_revenue_usage_daily's read of it took 0.39 s instead of 0.84 s on a 20k night whose keys reached three
    months back (a late revert). With a customer of every date among the keys: -infinity (no bound); with no key:
    null (no row). On a bound through a cast (the view's revenue_date) DuckDB skips nothing: 0.84 s. -#}
{% macro orb_affected_since(model_name=none) -%}
(select case when bool_or(all_dates) then cast('-infinity' as timestamp) else cast(min(revenue_date) as timestamp) end
 from orb_state.affected__{{ model_name or this.identifier }})
{%- endmacro %}


{#- The strategy: every row of an affected key goes, the recomputed rows come in. -#}
{% macro get_incremental_orb_affected_keys_sql(arg_dict) %}
  {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
delete from {{ arg_dict['target_relation'] }} as target_rows
where {{ orb_is_affected('target_rows', model_name=arg_dict['target_relation'].identifier) }};
insert into {{ arg_dict['target_relation'] }} ({{ cols }})
select {{ cols }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}


{#- Post-hook: what the model was built from. A build that read a table this run did not rebuild records no
    digest, so the next run builds it in full. -#}
{% macro orb_affected_keys_record() %}
  {{ return(adapter.dispatch('orb_affected_keys_record', 'orb_finance')()) }}
{% endmacro %}

{% macro default__orb_affected_keys_record() %}{% endmacro %}

{% macro duckdb__orb_affected_keys_record() %}
  {%- set plan = graph.get('orb_delivery_plan') -%}
  {%- set planned = (graph.get('orb_downstream') or {}).get(model.unique_id) -%}
  {%- if execute and plan and planned %}
delete from orb_state.downstream_state where model = {{ orb_sql_literal(model.name) }};
insert into orb_state.downstream_state
select {{ orb_sql_literal(model.name) }}, {{ orb_sql_literal(plan.fingerprint) }}, {{ orb_sql_literal(plan.root) }},
       {{ orb_staged_files_digest_sql(planned.resources) if planned.safe else 'null' }},
       {{ orb_sql_literal(planned.mode) }}, cast(now() as timestamp);
{{ orb_tested_keys_sql(planned.mode) }}
  {%- endif %}
{% endmacro %}


{#- Staging's strategy on DuckDB. The model's rows (tonight's files, deduplicated) merge into the staged table: a
    row goes in when its key is new, or when it wins against the row staged for its key by the same rule as the
    full build (greatest updated_at, then the file whose name sorts last, then the later record; events and feeds
    by file and record), and then replaces that row; a staged row that wins stays as it is. The rule is a
    maximum, so the result is the full build's whatever the order the files arrive in (a late re-delivery
    competes by its name). The winners are kept in orb_state.merged_<resource>, the staged rows they replace in
    orb_state.displaced_<resource> (read by the downstream models' affected keys and the staging tests).

    The staged table's keys are scanned once, in the merge's transaction: the rows holding tonight's keys are
    found by key with their row ids and ordering columns, and everything after reads them by row id (the
    12-million-row daily revenue: 0.3-0.5 s a scan). Reading every column of it to copy a few thousand rows, or
    scanning its keys a second time to delete them, took 3.7 s of a night's 5 (one thread, scripts/bench.py). -#}
{% macro get_incremental_orb_merge_sql(arg_dict) %}
  {%- set key = arg_dict['unique_key'] -%}
  {%- set resource = orb_resource_name() -%}
  {%- set target = arg_dict['target_relation'] -%}
  {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
  {%- set by_version = orb_row_rule() not in ('event', 'feed') -%}
  {%- set by_file = "(new.source_file > staged.source_file or (new.source_file = staged.source_file and new.source_row > staged.source_row))" -%}
  {%- set wins = ("(new.updated_at > staged.updated_at or (new.updated_at = staged.updated_at and " ~ by_file ~ "))")
                 if by_version else by_file -%}
create or replace temporary table orb_staged_{{ resource }} as
select rowid as staged_rowid, {{ key }}, {{ 'updated_at, ' if by_version }}source_file, source_row
from {{ target }}
where {{ key }} in (select {{ key }} from {{ arg_dict['temp_relation'] }});
create or replace table orb_state.merged_{{ resource }} as
select new.* from {{ arg_dict['temp_relation'] }} as new
left join orb_staged_{{ resource }} as staged
    on staged.{{ key }} = new.{{ key }}
where staged.{{ key }} is null or {{ wins }};
create or replace temporary table orb_replaced_{{ resource }} as
select staged_rowid from orb_staged_{{ resource }}
where {{ key }} in (select {{ key }} from orb_state.merged_{{ resource }});
create or replace table orb_state.displaced_{{ resource }} as
select * from {{ target }} where rowid in (select staged_rowid from orb_replaced_{{ resource }});
delete from {{ target }} where rowid in (select staged_rowid from orb_replaced_{{ resource }});
insert into {{ target }} ({{ cols }})
select {{ cols }} from orb_state.merged_{{ resource }};
drop table orb_staged_{{ resource }};
drop table orb_replaced_{{ resource }}
{% endmacro %}


{#- orb_state.tested_keys__<model>: the keys its data tests read on the nightly's incremental builds
    (ORB_STAGING_TESTS=merged; their `where` in the model's yml): the keys it recomputed when it was built
    incrementally; every other row is as it was when the last build's tests passed (a key test of a finer grain
    than (revenue_date, customer_id) can only find a duplicate among recomputed rows). After a full build, every
    customer with all_dates: every row. Any other run's tests read every row. -#}
{% macro orb_tested_keys_sql(mode) -%}
create or replace table orb_state.tested_keys__{{ this.identifier }} as
  {%- if mode == 'incremental' %}
select * from orb_state.affected__{{ this.identifier }}
  {%- else %}
select distinct cast(null as date) as revenue_date, customer_id, true as all_dates from {{ this }}
  {%- endif %}
{%- endmacro %}
