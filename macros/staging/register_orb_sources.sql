{#
  register_orb_sources: the on-run-start hook that turns the Orb export directory into one view per
  resource, `orb_export.<resource>`, with exactly the columns `_orb__sources.yml` declares plus
  `_file` (the delivery file) and `_row` (the record's 1-based position in that file).

  It checks the export before anything is built: the directory exists, every entry of a resource directory is
  a delivery file (a stray file or a nested folder stops the build, naming it, exactly as `orbfin nightly`'s
  check does; names starting with '.' or '_' are ignored by both), the required resources have delivery files,
  every file read carries every required column. Problems are collected and raised as one error naming each
  resource, file and column. Parsing every value happens in staging (stg_orb__*), whose cast macros stop the
  build naming file, row and column.

  On DuckDB the views cover the files this build reads: every file on a full build, the files not yet
  processed on an incremental one (orb_incremental.sql says how that is decided and recorded).
#}

{% macro register_orb_sources() %}
  {{ return(adapter.dispatch('register_orb_sources', 'orb_finance')()) }}
{% endmacro %}


{% macro orb_export_root() %}
  {#- The export directory: var orb_export_path, else env ORB_EXPORT_PATH; relative to the project. -#}
  {%- set configured = var('orb_export_path', none) or env_var('ORB_EXPORT_PATH', '') -%}
  {%- if not configured -%}
    {{ exceptions.raise_compiler_error(
        "No Orb export directory configured: set the dbt var orb_export_path "
        ~ "(--vars '{orb_export_path: /path/to/export}') or the environment variable ORB_EXPORT_PATH.") }}
  {%- endif -%}
  {%- set configured = configured | string | trim -%}
  {%- if not configured.startswith('/') -%}
    {%- set configured = invocation_args_dict.get('project_dir', '.') ~ '/' ~ configured -%}
  {%- endif -%}
  {{ return(configured.rstrip('/')) }}
{% endmacro %}


{% macro orb_sql_literal(value) -%}
  '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{% macro orb_source_tables() %}
  {#- The Orb source tables of the graph, sorted by name (a stable order for logs and errors). -#}
  {%- set tables = [] -%}
  {%- for src in graph.sources.values() if src.source_name == 'orb' -%}
    {%- do tables.append(src) -%}
  {%- endfor -%}
  {{ return(tables | sort(attribute='name')) }}
{% endmacro %}


{#- The delivery formats, as SQL over a file name (the same list as orb_finance/validate.py). -#}
{% macro orb_delivery_format_sql(name) -%}
  case
    when lower({{ name }}) like '%.parquet' then 'parquet'
    when lower({{ name }}) like '%.csv' or lower({{ name }}) like '%.csv.gz' then 'csv'
    when lower({{ name }}) like '%.jsonl' or lower({{ name }}) like '%.ndjson' then 'jsonl'
  end
{%- endmacro %}


{% macro orb_sql_list(values) -%}
  [{%- for v in values %}{{ orb_sql_literal(v) }}{{ ', ' if not loop.last }}{% endfor -%}]::varchar[]
{%- endmacro %}


{#- How every CSV delivery is read: RFC 4180 (comma, double quotes, a quote doubled inside quotes), the header's
    names taken as written, every value as text, strict field counts. The dialect is fixed, not sniffed: a file with
    one bad record made DuckDB's sniffer fall back to a single column ("missing required column" for every column).
    A line may be up to 64 MiB (DuckDB's default is 2 MB: a long memo is not an error). The read buffer is set just
    above it: by default DuckDB makes it 16 lines long, and allocates all of it for a .csv.gz (1 GiB each). -#}
{% macro orb_csv_dialect() -%}
  delim = ',', quote = '"', escape = '"', max_line_size = 67108864, buffer_size = 67108865
{%- endmacro %}


{#- `columns`: a CSV file's header names (orb_csv_headers); JSON Lines: the declared columns. A CSV file is read by
    one thread (a line longer than the buffer stops it with an error naming file and line; the parallel reader
    stops with one naming neither). -#}
{% macro duckdb__orb_read_file(path, fmt, columns=none) -%}
  {%- if fmt == 'csv' -%}
    read_csv({{ orb_sql_literal(path) }}, header = true, auto_detect = false, {{ orb_csv_dialect() }}, parallel = false, columns = {
      {%- for col in columns %}{{ orb_sql_literal(col) }}: 'VARCHAR'{{ ', ' if not loop.last }}{% endfor -%}
    })
  {%- else -%}
    {#- JSON: every declared column as text, so amounts keep their digits (no float detour). -#}
    read_json({{ orb_sql_literal(path) }}, format = 'newline_delimited', columns = {
      {%- for col in columns %}{{ orb_sql_literal(col) }}: 'VARCHAR'{{ ', ' if not loop.last }}{% endfor -%}
    })
  {%- endif -%}
{%- endmacro %}


{#- The header of each CSV file, read as written (its first line, one query for every file; no sniffing: DuckDB's
    sniffer fails on a file with an unclosed quote or a bad record further down): {'headers': {path: [name, ...]},
    'problems': [...]}. An empty file, a name that appears twice, or a header that is one field holding a semicolon,
    tab or pipe (not comma-separated) is a problem naming the file. A field without a name is called column<N> (its
    0-based position, as DuckDB names it) and is an extra column like any other. -#}
{% macro orb_csv_headers(csv_files) %}
  {% set headers = {} %}
  {% set problems = [] %}
  {% set header_sql %}
    {% for f in csv_files %}
      select {{ orb_sql_literal(f.path) }} as file,
             (select line from read_csv({{ orb_sql_literal(f.path) }}, header = false, auto_detect = false,
                     columns = {'line': 'VARCHAR'}, delim = E'\x1f', quote = '', escape = '', strict_mode = false,
                     ignore_errors = true, max_line_size = 67108864, buffer_size = 67108865) limit 1) as header_line
      {% if not loop.last %}union all{% endif %}
    {% endfor %}
  {% endset %}
  {% for row in run_query(header_sql).rows %}
    {% set f = csv_files | selectattr('path', 'equalto', row[0]) | first %}
    {% set names = [] %}
    {% if row[1] is not none %}
      {# RFC 4180 fields: "quoted, with "" for a quote" or plain #}
      {% for field in modules.re.findall('("(?:[^"]|"")*"|[^,]*),', row[1] ~ ',') %}
        {% set name = field[1:-1] | replace('""', '"') if field.startswith('"') and field.endswith('"') and field | length > 1 else field %}
        {% do names.append(name if name | trim != '' else 'column' ~ loop.index0) %}
      {% endfor %}
    {% endif %}
    {% set lowered = names | map('lower') | list %}
    {% set repeated = [] %}
    {% for name in lowered if lowered.count(name) > 1 and name not in repeated %}{% do repeated.append(name) %}{% endfor %}
    {% if not names %}
      {% do problems.append("resource '" ~ f.resource ~ "', file " ~ f.path ~ ": the file is empty (a CSV delivery starts "
                             ~ "with a header line naming its columns)") %}
    {% elif repeated %}
      {% do problems.append("resource '" ~ f.resource ~ "', file " ~ f.path ~ ": the header names column '"
                             ~ repeated | join("', '") ~ "' more than once") %}
    {% elif names | length == 1 and (';' in names[0] or '\t' in names[0] or '|' in names[0]) %}
      {% do problems.append("resource '" ~ f.resource ~ "', file " ~ f.path ~ ": the header is one field ('"
                             ~ names[0][:80] ~ "'): a CSV delivery is comma-separated") %}
    {% else %}
      {% do headers.update({f.path: names}) %}
    {% endif %}
  {% endfor %}
  {{ return({'headers': headers, 'problems': problems}) }}
{% endmacro %}


{#- Every record of every CSV file read once with its header's field count: a record with more or fewer fields, a
    quote not closed, bytes that are not UTF-8 or a line over 64 MiB is a problem naming file, line (the physical
    line, counting the header and the lines of quoted values; not computed for .csv.gz, whose bytes are compressed)
    and row (the record's 1-based position after the header, as in every other message), and what is wrong. At most
    3 per file. Every value is read: DuckDB checks UTF-8 only in the values a query reads. (DuckDB's readers each
    miss one thing without a reject: the parallel one, used here, a line longer than its buffer; the single-threaded
    one, used by the views, a quote left open at the end of the file. The views' strict read then stops the build on
    the long line, with DuckDB's message naming file and line.) -#}
{% macro orb_csv_bad_records(csv_files, headers) %}
  {% set files = csv_files | selectattr('path', 'in', headers) | list %}
  {% if not files %}{{ return([]) }}{% endif %}
  {% do run_query("drop table if exists orb_csv_reject_errors; drop table if exists orb_csv_reject_scans") %}
  {% set scan_sql %}
    {% for f in files %}
      select count(concat(*COLUMNS(*))) from read_csv({{ orb_sql_literal(f.path) }}, header = true, auto_detect = false, {{ orb_csv_dialect() }},
          columns = { {%- for col in headers[f.path] %}{{ orb_sql_literal(col) }}: 'VARCHAR'{{ ', ' if not loop.last }}{% endfor -%} },
          store_rejects = true, rejects_table = 'orb_csv_reject_errors', rejects_scan = 'orb_csv_reject_scans')
      {% if not loop.last %}union all{% endif %}
    {% endfor %}
  {% endset %}
  {% do run_query(scan_sql) %}
  {# One problem per record (a record missing two fields is rejected once per missing field, the first says how
     many it has). #}
  {% set rejected = run_query("
    with records as (
        select s.file_path as file, e.line, e.error_type, e.error_message,
               case when not lower(s.file_path) like '%.gz' then e.line_byte_position end as position
        from orb_csv_reject_errors as e
        join orb_csv_reject_scans as s on s.scan_id = e.scan_id and s.file_id = e.file_id
        qualify row_number() over (partition by s.file_path, e.line order by e.column_idx nulls first) = 1
    )
    select file, line, error_type, error_message, count(*) over (partition by file) as n_in_file, position
    from records
    qualify row_number() over (partition by file order by line) <= 3
    order by file, line") %}
  {% if not rejected.rows %}{{ return([]) }}{% endif %}
  {# The physical line: the newlines before the record's first byte (DuckDB counts records; a quoted value may span
     lines). DuckDB starts a line of a CRLF file at its \n: that newline is counted too. #}
  {% set physical = {} %}
  {% set plain = rejected.rows | selectattr(5) | map(attribute=0) | unique | list %}
  {% if plain %}
    {% set lines_sql %}
      select r.file, r.line,
             1 + length(decode(b.content[1:r.position - 1])) - length(replace(decode(b.content[1:r.position - 1]), chr(10), ''))
               + case when b.content[r.position:r.position] = '\x0A'::blob then 1 else 0 end
      from (values {% for r in rejected.rows if r[5] %}({{ orb_sql_literal(r[0]) }}, {{ r[1] }}, {{ r[5] }}){{ ', ' if not loop.last }}{% endfor %})
           as r(file, line, position)
      join read_blob({{ orb_sql_list(plain) }}) as b on b.filename = r.file
    {% endset %}
    {% for row in run_query(lines_sql).rows %}{% do physical.update({row[0] ~ '|' ~ row[1]: row[2]}) %}{% endfor %}
  {% endif %}
  {% set resource_of = {} %}
  {% for f in files %}{% do resource_of.update({f.path: f.resource}) %}{% endfor %}
  {% set problems = [] %}
  {% for r in rejected.rows %}
    {% set key = r[0] ~ '|' ~ r[1] %}
    {% set where = ("line " ~ physical[key] ~ " (row " ~ (r[1] - 1) ~ ")") if key in physical else "row " ~ (r[1] - 1) %}
    {% if r[2] in ('TOO MANY COLUMNS', 'MISSING COLUMNS') %}
      {% set found = modules.re.search('Found: *([0-9]+)', r[3]) %}
      {% set what = "expected " ~ (headers[r[0]] | length) ~ " fields (as many as the header names), got "
                    ~ (found.group(1) if found else ('more' if r[2] == 'TOO MANY COLUMNS' else 'fewer')) %}
    {% elif r[2] == 'LINE SIZE OVER MAXIMUM' %}
      {% set what = "the line is longer than 64 MiB, the longest line read (" ~ r[3] ~ ")" %}
    {% elif r[2] == 'INVALID ENCODING' %}
      {% set what = "the line is not UTF-8 (a CSV delivery is UTF-8; was it saved as Latin-1 or Windows-1252?)" %}
    {% elif r[2] == 'UNQUOTED VALUE' %}
      {% set what = "a quoted value is not closed properly (a quote inside a quoted value is written twice: \"\")" %}
    {% else %}
      {% set what = r[2] | lower ~ ": " ~ r[3] %}
    {% endif %}
    {% set last_shown = loop.last or loop.nextitem[0] != r[0] %}
    {% set more = (" (and " ~ (r[4] - 3) ~ " more bad records in this file)") if last_shown and r[4] > 3 else "" %}
    {% do problems.append("resource '" ~ resource_of[r[0]] ~ "', file " ~ r[0] ~ ", " ~ where ~ ": " ~ what ~ more) %}
  {% endfor %}
  {{ return(problems) }}
{% endmacro %}


{#- DuckDB: list the export once (names, sizes, mtimes: no file is opened), refuse what is not a delivery,
    decide per resource whether staging builds in full or merges the new files (orb_plan_deliveries), then
    register each resource's view over the files this run reads. Parquet files with the same columns and
    types are read by one multi-file scan, so the cost follows the rows, not the number of files; CSV and
    JSON Lines files are read one by one (their record numbers need a per-file scan). -#}
{% macro default__register_orb_sources() %}
  {% if execute %}
    {% set root = orb_export_root() %}
    {% set root_files = run_query("select count(*) from glob(" ~ orb_sql_literal(root ~ '/*/*') ~ ")") %}
    {% if root_files.rows[0][0] == 0 %}
      {{ exceptions.raise_compiler_error("Orb export directory " ~ root ~ " does not exist or holds no delivery files (expected one sub-directory per resource, e.g. " ~ root ~ "/customer/*.parquet).") }}
    {% endif %}
    {% set sources = orb_source_tables() %}
    {% do orb_create_state_tables() %}
    {% set problems = orb_list_deliveries(root, sources) %}
    {% if problems %}
      {{ exceptions.raise_compiler_error("The Orb export in " ~ root ~ " cannot be built:\n  - " ~ problems | join("\n  - ")) }}
    {% endif %}
    {% set fingerprint = orb_code_fingerprint() %}
    {% set modes = orb_plan_deliveries(root, sources, fingerprint) %}
    {% set tests_read = env_var('ORB_STAGING_TESTS', 'all') %}
    {% do orb_scope_staging_tests(tests_read) %}

    {% set views = orb_source_views(root, sources) %}
    {% if views.problems %}
      {{ exceptions.raise_compiler_error("The Orb export in " ~ root ~ " cannot be built:\n  - " ~ views.problems | join("\n  - ")) }}
    {% endif %}
    {% set schema_rel = api.Relation.create(database=target.database, schema='orb_export') %}
    {% do adapter.create_schema(schema_rel) %}
    {% for statement in views.statements %}
      {% do run_query(statement) %}
    {% endfor %}
    {# What the staging models and their post-hooks read while this run lasts (one process, one graph). #}
    {% do graph.update({'orb_source_types': views.types,
                        'orb_delivery_plan': {'root': root, 'fingerprint': fingerprint, 'modes': modes,
                                              'staging_tests': tests_read}}) %}
    {% set counts = run_query("select (select count(*) from delivery_listing where format is not null and not is_hidden), "
                              ~ "(select count(*) from orb_state.delivery_plan)").rows[0] %}
    {% set incremental = modes.values() | select('equalto', 'incremental') | list | length %}
    {% do log("Orb export " ~ root ~ ": " ~ counts[0] ~ " delivery files, " ~ counts[1] ~ " read by this build ("
              ~ incremental ~ " of " ~ modes | length ~ " resources merged incrementally)", info=true) %}
  {% endif %}
{% endmacro %}


{#- delivery_listing (a temporary table: nothing is written before the export is known to be usable): every
    file directly in a resource directory (path, size_bytes, modified_at,
    resource, file_name, is_hidden, format). Returns the problems: a file that is not a delivery, a folder
    inside a resource directory (names starting with '.' or '_' are ignored, as the nightly's check does). -#}
{% macro orb_list_deliveries(root, sources) %}
  {% set names = orb_sql_list(sources | map(attribute='name') | list) %}
  {% set offset = (root | length) + 2 %}
  {% do run_query("create or replace temp table delivery_listing as
    with entries as (
        select filename as path, size as size_bytes, cast(last_modified as timestamp) as modified_at,
               split_part(substr(filename, " ~ offset ~ "), '/', 1) as resource,
               split_part(substr(filename, " ~ offset ~ "), '/', 2) as file_name
        from read_blob(" ~ orb_sql_literal(root ~ '/*/*') ~ ")
    )
    select *, starts_with(file_name, '.') or starts_with(file_name, '_') as is_hidden,
           " ~ orb_delivery_format_sql('file_name') ~ " as format
    from entries
    where list_contains(" ~ names ~ ", resource)") %}
  {% set found = run_query("
    select path, path || ': not a delivery file (expected .parquet, .csv, .csv.gz, .jsonl, .ndjson); '
                 || 'a delivery still being copied, or a stray file: remove or rename it' as problem
    from delivery_listing where format is null and not is_hidden
    union all
    select file, file || ': a folder inside a resource directory (deliveries are files directly in '
                 || parent || '/): remove or move it'
    from (select file, split_part(substr(file, " ~ offset ~ "), '/', 1) as resource,
                 split_part(substr(file, " ~ offset ~ "), '/', 2) as name,
                 " ~ orb_sql_literal(root) ~ " || '/' || split_part(substr(file, " ~ offset ~ "), '/', 1) as parent
          from glob(" ~ orb_sql_literal(root ~ '/*/*/') ~ "))
    where list_contains(" ~ names ~ ", resource) and not starts_with(name, '.') and not starts_with(name, '_')
    order by 1") %}
  {% set problems = found.rows | map(attribute=1) | list %}
  {% set present = run_query("select distinct resource from delivery_listing where format is not null and not is_hidden").rows | map(attribute=0) | list %}
  {% for src in sources if src.meta.get('required_resource') and src.name not in present %}
    {% do problems.append("required resource '" ~ src.name ~ "' has no delivery files in " ~ root ~ "/" ~ src.name
                           ~ "/ (expected *.parquet, *.csv, *.csv.gz or *.jsonl)") %}
  {% endfor %}
  {{ return(problems) }}
{% endmacro %}


{#- Decide per resource: `full` (every file) when dbt runs with --full-refresh, the staged table is missing, it
    was built from another export directory, or the project's code changed since (orb_code_fingerprint); else
    `incremental` (the files not in orb_state.processed_files). A processed file that was rewritten (other size
    or mtime) or removed stops an incremental build, naming it. Writes orb_state.delivery_plan; returns
    {resource: mode}. A staged table that must be rebuilt from every file is dropped first (selected models
    only), so dbt's incremental materialization builds it afresh. -#}
{% macro orb_plan_deliveries(root, sources, fingerprint) %}
  {% set state = {} %}
  {% for row in run_query("select resource, export_root, code_fingerprint from orb_state.staged_resources").rows %}
    {% do state.update({row[0]: {'root': row[1], 'fingerprint': row[2]}}) %}
  {% endfor %}
  {% set modes = {} %}
  {% set to_drop = [] %}
  {% for src in sources %}
    {% set node = graph.nodes.get('model.' ~ project_name ~ '.stg_orb__' ~ src.name) %}
    {% set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) if node else none %}
    {% set known = state.get(src.name) %}
    {% if flags.FULL_REFRESH or relation is none or not node or node.config.materialized != 'incremental' %}
      {% do modes.update({src.name: 'full'}) %}
    {% elif known is none or known.root != root or known.fingerprint != fingerprint %}
      {% do modes.update({src.name: 'full'}) %}
      {% if node.unique_id in selected_resources %}{% do to_drop.append(relation) %}{% endif %}
    {% else %}
      {% do modes.update({src.name: 'incremental'}) %}
    {% endif %}
  {% endfor %}
  {% set full = orb_sql_list(modes | dictsort | selectattr(1, 'equalto', 'full') | map(attribute=0) | list) %}
  {% set incremental = orb_sql_list(modes | dictsort | selectattr(1, 'equalto', 'incremental') | map(attribute=0) | list) %}

  {% set changed = run_query("
    select p.path, l.path is null as removed, p.size_bytes, l.size_bytes, p.modified_at, l.modified_at
    from orb_state.processed_files as p
    left join delivery_listing as l on l.path = p.path
    where list_contains(" ~ incremental ~ ", p.resource)
      and (l.path is null or l.size_bytes <> p.size_bytes or l.modified_at <> p.modified_at)
    order by p.path") %}
  {% if changed.rows %}
    {% set lines = [] %}
    {% for r in changed.rows[:20] %}
      {% if r[1] %}
        {% do lines.append(r[0] ~ ": removed after it was processed") %}
      {% else %}
        {% do lines.append(r[0] ~ ": rewritten after it was processed (size " ~ r[2] ~ " -> " ~ r[3] ~ " bytes, modified "
                           ~ r[4] ~ " -> " ~ r[5] ~ ")") %}
      {% endif %}
    {% endfor %}
    {% if changed.rows | length > 20 %}{% do lines.append("... and " ~ (changed.rows | length - 20) ~ " more") %}{% endif %}
    {{ exceptions.raise_compiler_error("The Orb export in " ~ root ~ " changed under delivery files already merged "
        ~ "into the warehouse (Orb never rewrites or removes a delivery). To rebuild from the files as they are now, "
        ~ "run with --full-refresh:\n  - " ~ lines | join("\n  - ")) }}
  {% endif %}

  {% for relation in to_drop %}
    {% do log("Orb export: " ~ relation ~ " is rebuilt from every delivery file (the project's code or the export "
              ~ "directory changed since it was built)", info=true) %}
    {% do adapter.drop_relation(relation) %}
  {% endfor %}
  {% do run_query("create or replace table orb_state.delivery_plan as
    select l.resource, l.path, l.format, l.size_bytes, l.modified_at
    from delivery_listing as l
    where l.format is not null and not l.is_hidden
      and (list_contains(" ~ full ~ ", l.resource)
           or not exists (select 1 from orb_state.processed_files as p where p.path = l.path))
    order by l.resource, l.path") %}
  {{ return(modes) }}
{% endmacro %}


{#- The view of each resource over its planned files: {'statements': [...], 'problems': [...], 'types': {resource:
    {column: type}}}. A column keeps its parquet type when every part of the view has that type (staging then
    needs no text parsing for it), else every part reads it as text. -#}
{% macro orb_source_views(root, sources) %}
  {% set problems = [] %}
  {% set parts_by_resource = {} %}

  {# Parquet: one scan per group of files with identical columns and types (one parquet_schema call). #}
  {% set parquet_files = run_query("select string_agg(" ~ orb_quote_sql('path') ~ ", ', ' order by path) "
                                   ~ "from orb_state.delivery_plan where format = 'parquet'").rows[0][0] %}
  {% if parquet_files %}
    {% set groups = run_query("
      select plan.resource, min(plan.path) as first_path, count(*) as n_files,
             string_agg(" ~ orb_quote_sql('plan.path') ~ ", ', ' order by plan.path) as file_list
      from orb_state.delivery_plan as plan
      join (select file_name, string_agg(name || ' ' || coalesce(duckdb_type, type, '?'), ', ' order by column_id, name) as signature
            from parquet_schema([" ~ parquet_files ~ "]) group by file_name) as schemas
        on schemas.file_name = plan.path
      group by plan.resource, schemas.signature
      order by plan.resource, first_path") %}
    {% set declared_of = {} %}
    {% for src in sources %}{% do declared_of.update({src.name: src.columns.values() | list}) %}{% endfor %}
    {% for g in groups.rows %}
      {% set described = run_query("describe select * from read_parquet(" ~ orb_sql_literal(g[1]) ~ ")") %}
      {% set types = {} %}
      {% for row in described.rows %}{% do types.update({row[0] | lower: row[0] ~ '|' ~ row[1]}) %}{% endfor %}
      {# Money and quantities are exact: a binary float (0.1 is not 0.1) is refused, naming the file and column; a
         float file among DECIMAL ones would otherwise turn the whole column into text and fail on the good file. #}
      {% for col in declared_of.get(g[0], []) if col.data_type in ('dec', 'int') and col.name in types
                                               and types[col.name].split('|', 1)[1] in ('FLOAT', 'DOUBLE') %}
        {% do problems.append("resource '" ~ g[0] ~ "', file " ~ g[1] ~ (" (and " ~ (g[2] - 1) ~ " more with the same columns)" if g[2] > 1 else "")
                               ~ ": column '" ~ col.name ~ "' is " ~ types[col.name].split('|', 1)[1] ~ " (a binary floating-point "
                               ~ "number); floats are refused for money and quantities: deliver it as DECIMAL or as text") %}
      {% endfor %}
      {% do parts_by_resource.setdefault(g[0], []).append({'format': 'parquet', 'first': g[1], 'n': g[2],
          'reader': "read_parquet([" ~ g[3] ~ "], filename = true, file_row_number = true)", 'types': types}) %}
    {% endfor %}
  {% endif %}

  {# CSV: each file's header, then every record checked against it (before any view exists: a bad record is named
     here, by file and line, not met later as a confusing parse error); JSON Lines: every declared column, as text. #}
  {% set text_files = run_query("select resource, path, format from orb_state.delivery_plan where format in ('csv', 'jsonl') order by resource, path") %}
  {% set csv_files = [] %}
  {% for row in text_files.rows if row[2] == 'csv' %}{% do csv_files.append({'resource': row[0], 'path': row[1]}) %}{% endfor %}
  {% set csv_headers = {} %}
  {% if csv_files %}
    {% set read = orb_csv_headers(csv_files) %}
    {% do problems.extend(read.problems) %}
    {% do csv_headers.update(read.headers) %}
    {% do problems.extend(orb_csv_bad_records(csv_files, csv_headers)) %}
  {% endif %}
  {% set declared_by_resource = {} %}
  {% for src in sources %}
    {% do declared_by_resource.update({src.name: src.columns.values() | map(attribute='name') | list}) %}
  {% endfor %}
  {% for row in text_files.rows if row[2] == 'jsonl' or row[1] in csv_headers %}
    {% set types = {} %}
    {% set columns = csv_headers.get(row[1]) if row[2] == 'csv' else declared_by_resource.get(row[0], []) %}
    {% for col in columns %}{% do types.update({col | lower: col ~ '|VARCHAR'}) %}{% endfor %}
    {% do parts_by_resource.setdefault(row[0], []).append({'format': row[2], 'first': row[1], 'n': 1,
        'reader': orb_finance.duckdb__orb_read_file(row[1], row[2], columns), 'types': types}) %}
  {% endfor %}
  {% if problems %}
    {{ return({'statements': [], 'problems': problems, 'types': {}}) }}
  {% endif %}

  {% set statements = [] %}
  {% set all_types = {} %}
  {% for src in sources %}
    {% set parts = parts_by_resource.get(src.name, []) %}
    {% set declared = src.columns.values() | list %}
    {% set relation = api.Relation.create(database=src.database, schema=src.schema, identifier=src.identifier) %}
    {% set resolved = {} %}
    {% for col in declared %}
      {% set seen = [] %}
      {% for part in parts if col.name in part.types %}
        {% do seen.append(orb_part_column_type(part, col)) %}
      {% endfor %}
      {% set distinct = seen | unique | list %}
      {% do resolved.update({col.name: distinct[0] if distinct | length == 1 else 'VARCHAR'}) %}
    {% endfor %}
    {% set selects = [] %}
    {% for part in parts %}
      {% set exprs = [] %}
      {% for col in declared %}
        {% if col.name in part.types %}
          {% set expr = orb_part_column_expr(part, col) %}
          {% if orb_part_column_type(part, col) != resolved[col.name] %}
            {% set expr = "cast(" ~ expr ~ " as varchar)" %}
          {% endif %}
          {% do exprs.append(expr ~ " as " ~ col.name) %}
        {% elif col.meta.get('optional') %}
          {% do exceptions.warn("Orb export: " ~ src.name ~ ": file " ~ part.first ~ (" (and " ~ (part.n - 1) ~ " more with the same columns)" if part.n > 1 else "")
                                 ~ " has no column '" ~ col.name ~ "' (optional: read as null)") %}
          {% do exprs.append("cast(null as " ~ (resolved[col.name] or 'varchar') ~ ") as " ~ col.name) %}
        {% else %}
          {% do problems.append("resource '" ~ src.name ~ "', file " ~ part.first ~ (" (and " ~ (part.n - 1) ~ " more with the same columns)" if part.n > 1 else "")
                                 ~ ": missing required column '" ~ col.name ~ "'") %}
        {% endif %}
      {% endfor %}
      {% if part.format == 'parquet' %}
        {% set row_sql = "filename as _file, cast(file_row_number + 1 as bigint) as _row" %}
      {% else %}
        {# row_number() over () streams in file order; computed per file, before any filter. #}
        {% set row_sql = orb_sql_literal(part.first) ~ " as _file, cast(row_number() over () as bigint) as _row" %}
      {% endif %}
      {% do selects.append("select " ~ exprs | join(", ") ~ ", " ~ row_sql ~ " from " ~ part.reader) %}
    {% endfor %}
    {% if not selects %}
      {% set empty_cols = [] %}
      {% for col in declared %}{% do empty_cols.append("cast(null as varchar) as " ~ col.name) %}{% endfor %}
      {% do selects.append("select " ~ empty_cols | join(", ") ~ ", cast(null as varchar) as _file, cast(null as bigint) as _row where 1 = 0") %}
    {% else %}
      {% do all_types.update({src.name: resolved}) %}
    {% endif %}
    {% do statements.append("create or replace view " ~ relation ~ " as\n" ~ selects | join("\nunion all by name\n")) %}
  {% endfor %}
  {{ return({'statements': statements, 'problems': problems, 'types': all_types}) }}
{% endmacro %}


{#- What one part of a view yields for a declared column, and its type. Text (CSV, JSON Lines, a parquet
    VARCHAR) with '' read as null, as an empty CSV field is; a nested parquet value under a json column as JSON
    text; any other parquet column as it is. -#}
{% macro orb_part_column_expr(part, col) %}
  {%- set actual = part.types[col.name].split('|', 1) -%}
  {%- set quoted = adapter.quote(actual[0]) -%}
  {%- if part.format == 'csv' -%}{{ return(quoted) }}
  {%- elif part.format == 'jsonl' or actual[1] == 'VARCHAR' -%}{{ return("nullif(" ~ quoted ~ ", '')") }}
  {%- elif col.data_type == 'json' and actual[1] != 'JSON' -%}{{ return("cast(to_json(" ~ quoted ~ ") as varchar)") }}
  {%- else -%}{{ return(quoted) }}
  {%- endif -%}
{% endmacro %}

{% macro orb_part_column_type(part, col) %}
  {%- set actual = part.types[col.name].split('|', 1)[1] -%}
  {%- if part.format != 'parquet' or actual == 'VARCHAR' or (col.data_type == 'json' and actual != 'JSON') -%}
    {{ return('VARCHAR') }}
  {%- else -%}
    {{ return(actual) }}
  {%- endif -%}
{% endmacro %}


{#- SQL that quotes a text column as a SQL string literal (for building file lists inside DuckDB). -#}
{% macro orb_quote_sql(column) -%}
  '''' || replace({{ column }}, '''', '''''') || ''''
{%- endmacro %}


{#- Spark: one view per resource directory, with the file and the 1-based record number in it.
    Spark SQL cannot list a directory, so which resources have files, and in which format, comes from the
    var `orb_export_resources` (orbfin and `make test-spark` pass it): a mapping {resource: parquet | csv |
    jsonl}, or a list of resources (all parquet). A declared resource missing from it is an empty view.
    - parquet: ``parquet.`<dir>` ``, record number from `_metadata.row_index`.
    - csv (.csv, .csv.gz): a table over the directory, every column text as on DuckDB (header names, RFC 4180
      quotes, quoted newlines); record number = position in the file: each file is one split (multiLine), read
      in order.
    - jsonl (.jsonl, .ndjson): a table over the directory with every declared column as text (a number keeps
      its digits, a nested object its JSON text, a missing key is null), as on DuckDB; record number as csv
      (splits of one file are read in file order).
    One format per resource directory: DuckDB reads a mix, Spark's file sources read a whole directory. -#}
{% macro spark__register_orb_sources() %}
  {% if execute %}
    {% set root = orb_export_root() %}
    {% set given = var('orb_export_resources', none) %}
    {% if given is none %}
      {% set present = none %}
    {% elif given is mapping %}
      {% set present = given %}
    {% else %}
      {% set present = {} %}
      {% for name in given %}{% do present.update({name: 'parquet'}) %}{% endfor %}
    {% endif %}
    {% set problems = [] %}
    {% set statements = [] %}
    {% do run_query("create schema if not exists orb_export") %}
    {% for src in orb_source_tables() %}
      {% set declared = src.columns.values() | list %}
      {% set fmt = 'parquet' if present is none else present.get(src.name) %}
      {% set path = root ~ '/' ~ src.name %}
      {% set files_table = 'orb_export.' ~ src.name ~ '__files' %}
      {% if not fmt and src.meta.get('required_resource') %}
        {% do problems.append("required resource '" ~ src.name ~ "' has no delivery files in " ~ path) %}
      {% elif fmt and fmt not in ('parquet', 'csv', 'jsonl') %}
        {% do problems.append("resource '" ~ src.name ~ "': " ~ path ~ " holds " ~ fmt ~ " delivery files; on Spark one "
                               ~ "resource directory must hold one format (parquet, csv or jsonl)") %}
      {% elif fmt %}
        {% if fmt == 'parquet' %}
          {% set reader = "parquet.`" ~ path ~ "`" %}
          {% set file_sql = "_metadata.file_path" %}
          {% set row_sql = "_metadata.row_index + 1" %}
        {% else %}
          {% do run_query("drop table if exists " ~ files_table) %}
          {% if fmt == 'csv' %}
            {% do run_query("create table " ~ files_table ~ " using csv options (path " ~ orb_sql_literal(path)
                            ~ ", pathGlobFilter '*.{csv,csv.gz,CSV,CSV.GZ}', header 'true', multiLine 'true',"
                            ~ " quote '\"', escape '\"', mode 'FAILFAST')") %}
          {% else %}
            {% set schema = [] %}
            {% for col in declared %}{% do schema.append("`" ~ col.name ~ "` string") %}{% endfor %}
            {% do run_query("create table " ~ files_table ~ " (" ~ schema | join(", ") ~ ") using json options (path "
                            ~ orb_sql_literal(path) ~ ", pathGlobFilter '*.{jsonl,ndjson,JSONL,NDJSON}', mode 'FAILFAST')") %}
          {% endif %}
          {% set reader = "(select *, _metadata.file_path as _orb_file, monotonically_increasing_id() as _orb_seq from "
                          ~ files_table ~ ") as delivered" %}
          {% set file_sql = "_orb_file" %}
          {% set row_sql = "row_number() over (partition by _orb_file order by _orb_seq)" %}
        {% endif %}
        {% set described = run_query("describe query select * from " ~ (files_table if fmt != 'parquet' else reader)) %}
        {% set have = described.rows | map(attribute=0) | map('lower') | list %}
        {% set selects = [] %}
        {% for col in declared %}
          {% set spark_type = (described.rows | selectattr(0, 'equalto', col.name) | map(attribute=1) | first | default('')) | lower %}
          {% if col.name in have and col.data_type in ('dec', 'int') and spark_type in ('double', 'float') %}
            {% do problems.append("resource '" ~ src.name ~ "', files " ~ path ~ ": column '" ~ col.name ~ "' is " ~ spark_type
                                   ~ " (a binary floating-point number); floats are refused for money and quantities: "
                                   ~ "deliver it as DECIMAL or as text") %}
          {% endif %}
          {% if col.name in have %}
            {% if fmt == 'jsonl' %}
              {% do selects.append("nullif(`" ~ col.name ~ "`, '') as " ~ col.name) %}
            {% else %}
              {% do selects.append("`" ~ col.name ~ "` as " ~ col.name) %}
            {% endif %}
          {% elif col.meta.get('optional') %}
            {% do selects.append("cast(null as string) as " ~ col.name) %}
          {% else %}
            {% do problems.append("resource '" ~ src.name ~ "', files " ~ path ~ ": missing required column '" ~ col.name ~ "'") %}
          {% endif %}
        {% endfor %}
        {% do statements.append("create or replace view orb_export." ~ src.name ~ " as select " ~ selects | join(", ")
                                ~ ", " ~ file_sql ~ " as _file, cast(" ~ row_sql ~ " as bigint) as _row from " ~ reader) %}
      {% else %}
        {% set cols = [] %}
        {% for col in declared %}{% do cols.append("cast(null as string) as " ~ col.name) %}{% endfor %}
        {% do statements.append("create or replace view orb_export." ~ src.name ~ " as select " ~ cols | join(", ")
                                ~ ", cast(null as string) as _file, cast(null as bigint) as _row where 1 = 0") %}
      {% endif %}
    {% endfor %}
    {% if problems %}
      {{ exceptions.raise_compiler_error("The Orb export in " ~ root ~ " cannot be built:\n  - " ~ problems | join("\n  - ")) }}
    {% endif %}
    {% for statement in statements %}
      {% do run_query(statement) %}
    {% endfor %}
  {% endif %}
{% endmacro %}
