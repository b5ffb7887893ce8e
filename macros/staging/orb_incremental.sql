{#
  Incremental staging on DuckDB (SPEC §6): a night reads only the delivery files not yet processed and merges
  their rows into the staged tables by the SPEC §2.2 row rules. Spark always builds staging in full.

  State lives in the warehouse, schema orb_state:
    processed_files    one row per delivery file merged into staging: resource, path, format, size_bytes,
                       modified_at (the file's mtime, to the second), row_count, processed_at;
    staged_resources   per resource: the export root and the code fingerprint its staged table was built with;
    delivery_plan      the files this run reads, per resource (all of them, or the new ones);
    tested_files       the files whose staged rows the staging tests read this run (dbt_project.yml `where`).
  register_orb_sources decides per resource (full or incremental) and writes delivery_plan; each staging
  model merges (orb_merge_with_staged) and records what it read in a post-hook (orb_record_deliveries), in its
  own transaction, so processed_files never runs ahead of the staged rows.
#}

{% macro orb_create_state_tables() %}
  {% do run_query("create schema if not exists orb_state") %}
  {% do run_query("create table if not exists orb_state.processed_files (resource varchar, path varchar, "
                  ~ "format varchar, size_bytes bigint, modified_at timestamp, row_count bigint, processed_at timestamp)") %}
  {% do run_query("create table if not exists orb_state.staged_resources (resource varchar, export_root varchar, "
                  ~ "code_fingerprint varchar, last_mode varchar, files_read bigint, built_at timestamp)") %}
{% endmacro %}


{#- Which staged rows the staging tests check: `all` (every delivery file's) or `merged` (the files this build
    read; what the nightly asks for on an incremental night, whose build is thrown away unless every test passes). -#}
{% macro orb_scope_staging_tests(scope) %}
  {% if scope not in ('all', 'merged') %}
    {{ exceptions.raise_compiler_error("ORB_STAGING_TESTS must be 'all' or 'merged', not '" ~ scope ~ "'") }}
  {% endif %}
  {% do run_query("create or replace table orb_state.tested_files as select path from "
                  ~ ("orb_state.delivery_plan" if scope == 'merged'
                     else "delivery_listing where format is not null and not is_hidden")) %}
{% endmacro %}


{#- A digest of everything the staged rows depend on: every model and seed (file checksum and how it is
    materialized), every macro of the project (its text), the export contract (_orb__sources.yml columns and
    meta), the Orb enumerations, and the dbt and DuckDB versions. Any change means a full rebuild from every
    file ("any change of the models" in SPEC §6). -#}
{% macro orb_code_fingerprint() %}
  {%- set parts = ['dbt ' ~ dbt_version, 'adapter ' ~ target.type] -%}
  {%- do parts.append('engine ' ~ run_query("select version()").rows[0][0]) -%}
  {%- for node in graph.nodes.values() | sort(attribute='unique_id') if node.resource_type in ('model', 'seed') -%}
    {%- do parts.append(node.unique_id ~ ' ' ~ node.checksum.checksum ~ ' ' ~ node.config.materialized ~ ' '
                        ~ (node.config.get('unique_key') or '')) -%}
  {%- endfor -%}
  {%- for src in orb_source_tables() -%}
    {%- set cols = [] -%}
    {%- for col in src.columns.values() -%}
      {%- do cols.append(col.name ~ ':' ~ (col.data_type or '') ~ ':' ~ (col.meta | tojson)) -%}
    {%- endfor -%}
    {%- do parts.append('source ' ~ src.name ~ ' ' ~ (src.meta | tojson) ~ ' ' ~ cols | join(',')) -%}
  {%- endfor -%}
  {%- set macro_names = [] -%}
  {%- for name in orb_finance -%}{%- do macro_names.append(name) -%}{%- endfor -%}
  {%- for name in macro_names | sort -%}
    {%- do parts.append('macro ' ~ name ~ ' ' ~ orb_finance[name].macro.macro_sql) -%}
  {%- endfor -%}
  {%- do parts.append('enums ' ~ (var('orb_enums') | tojson)) -%}
  {{ return(local_md5(parts | join('\n'))) }}
{% endmacro %}


{#- The row rule of this model's resource (_orb__sources.yml meta.row_rule): mutable, append_only, event, feed. -#}
{% macro orb_row_rule() %}
  {%- set src = graph.sources.get('source.' ~ project_name ~ '.orb.' ~ orb_resource_name()) -%}
  {{ return(src.meta.get('row_rule') if src else none) }}
{% endmacro %}


{#- The last step of every staging model. A full build: the staged rows of every file. An incremental night:
    the rows of the new files that win against the row already staged for their key by the same rule
    (greatest updated_at, then the file whose name sorts last, then the later record; events by file and
    record), or whose key is new; dbt's delete+insert then puts them in place of those keys, and a staged row
    that wins stays as it is. The rule is a maximum, so the result is the full build's whatever the order the
    files arrive in (a late re-delivery competes by its name). Only the key and the ordering columns of the
    staged table are read. -#}
{% macro orb_merge_with_staged(relation) %}
  {%- if is_incremental() -%}
    {%- set key = config.get('unique_key') -%}
    {%- set by_file = "(new.source_file > staged.source_file or (new.source_file = staged.source_file and new.source_row > staged.source_row))" -%}
    {%- if orb_row_rule() in ('event', 'feed') -%}
      {%- set wins = by_file -%}
    {%- else -%}
      {%- set wins = "(new.updated_at > staged.updated_at or (new.updated_at = staged.updated_at and " ~ by_file ~ "))" -%}
    {%- endif -%}
select new.*
from {{ relation }} as new
left join (
    select {{ key }}, {{ 'updated_at, ' if orb_row_rule() not in ('event', 'feed') }}source_file, source_row
    from {{ this }}
    where {{ key }} in (select {{ key }} from {{ relation }})
) as staged
    on staged.{{ key }} = new.{{ key }}
where staged.{{ key }} is null or {{ wins }}
  {%- else -%}
select * from {{ relation }}
  {%- endif -%}
{% endmacro %}


{#- Post-hook of every staging model: record the delivery files it read (in the model's transaction). -#}
{% macro orb_record_deliveries() %}
  {{ return(adapter.dispatch('orb_record_deliveries', 'orb_finance')()) }}
{% endmacro %}

{% macro default__orb_record_deliveries() %}{% endmacro %}

{% macro duckdb__orb_record_deliveries() %}
  {%- set plan = graph.get('orb_delivery_plan') -%}
  {%- if execute and plan and orb_resource_name() in plan.modes -%}
    {%- set resource = orb_resource_name() -%}
    {%- set mode = plan.modes[resource] -%}
    {%- set src = graph.sources['source.' ~ project_name ~ '.orb.' ~ resource] -%}
    {%- set view = api.Relation.create(database=src.database, schema=src.schema, identifier=src.identifier) -%}
    {%- if mode == 'full' %}
delete from orb_state.processed_files where resource = {{ orb_sql_literal(resource) }};
    {%- endif %}
insert into orb_state.processed_files
select plan.resource, plan.path, plan.format, plan.size_bytes, plan.modified_at, coalesce(counted.n, 0),
       cast(now() as timestamp)
from orb_state.delivery_plan as plan
left join (select _file, count(*) as n from {{ view }} group by _file) as counted
    on counted._file = plan.path
where plan.resource = {{ orb_sql_literal(resource) }};
delete from orb_state.staged_resources where resource = {{ orb_sql_literal(resource) }};
insert into orb_state.staged_resources
select {{ orb_sql_literal(resource) }}, {{ orb_sql_literal(plan.root) }}, {{ orb_sql_literal(plan.fingerprint) }},
       {{ orb_sql_literal(mode) }}, count(*), cast(now() as timestamp)
from orb_state.delivery_plan where resource = {{ orb_sql_literal(resource) }}
  {%- endif -%}
{% endmacro %}
