{#
  Incremental staging on DuckDB (SPEC §6): a night reads only the delivery files not yet processed and merges
  their rows into the staged tables by the SPEC §2.2 row rules. Spark always builds staging in full.

  State lives in the warehouse, schema orb_state:
    processed_files    one row per delivery file merged into staging: resource, path, format, size_bytes,
                       modified_at (the file's mtime, to the second), row_count, processed_at;
    staged_resources   per resource: the export root and the code fingerprint its staged table was built with;
    delivery_listing   every entry of the resource directories, as listed by this run's hook;
    delivery_plan      the files this run reads, per resource (all of them, or the new ones).
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
    the rows of the new files plus the staged rows of the keys they touch, reduced again to one row per key by
    the same rule (greatest updated_at, then the file whose name sorts last, then the later record; events by
    file and record), which dbt's delete+insert then puts in place of those keys. The rule is associative, so
    the result is the full build's, whatever the order files arrive in (a late re-delivery sorts by its name). -#}
{% macro orb_merge_with_staged(relation) %}
  {%- if is_incremental() -%}
    {%- set key = config.get('unique_key') -%}
    {%- set by_file = 'source_file desc, source_row desc' -%}
    {%- set order = by_file if orb_row_rule() in ('event', 'feed') else 'updated_at desc, ' ~ by_file -%}
select * from (
    select * from {{ relation }}
    union all by name
    select * from {{ this }}
    where {{ key }} in (select {{ key }} from {{ relation }})
) as merged
qualify row_number() over (partition by {{ key }} order by {{ order }}) = 1
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
