{#
  register_orb_sources: the on-run-start hook that turns the Orb export directory into one view per
  resource, `orb_export.<resource>`, with exactly the columns `_orb__sources.yml` declares plus
  `_file` (the delivery file) and `_row` (the record's 1-based position in that file).

  It checks the export before anything is built: the directory exists, the required resources have
  delivery files, every file carries every required column. Problems are collected and raised as one
  error naming each resource, file and column. Parsing every value happens in staging (stg_orb__*),
  whose cast macros stop the build naming file, row and column.
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


{% macro orb_delivery_format(path) %}
  {%- set lower = path | lower -%}
  {%- if lower.endswith('.parquet') -%}{{ return('parquet') }}
  {%- elif lower.endswith('.csv') or lower.endswith('.csv.gz') -%}{{ return('csv') }}
  {%- elif lower.endswith('.jsonl') or lower.endswith('.ndjson') -%}{{ return('jsonl') }}
  {%- else -%}{{ return(none) }}
  {%- endif -%}
{% endmacro %}


{% macro duckdb__orb_read_file(path, fmt, columns=none) -%}
  {%- if fmt == 'parquet' -%}
    read_parquet({{ orb_sql_literal(path) }})
  {%- elif fmt == 'csv' -%}
    read_csv({{ orb_sql_literal(path) }}, header = true, all_varchar = true, auto_detect = true)
  {%- else -%}
    {#- JSON: every declared column as text, so amounts keep their digits (no float detour). -#}
    read_json({{ orb_sql_literal(path) }}, format = 'newline_delimited', columns = {
      {%- for col in columns %}{{ orb_sql_literal(col) }}: 'VARCHAR'{{ ', ' if not loop.last }}{% endfor -%}
    })
  {%- endif -%}
{%- endmacro %}


{% macro default__register_orb_sources() %}
  {% if execute %}
    {% set root = orb_export_root() %}
    {% set root_files = run_query("select count(*) from glob(" ~ orb_sql_literal(root ~ '/*/*') ~ ")") %}
    {% if root_files.rows[0][0] == 0 %}
      {{ exceptions.raise_compiler_error("Orb export directory " ~ root ~ " does not exist or holds no delivery files (expected one sub-directory per resource, e.g. " ~ root ~ "/customer/*.parquet).") }}
    {% endif %}

    {% set problems = [] %}
    {% set statements = [] %}
    {% set n_files = [] %}
    {% for src in orb_source_tables() %}
      {% set resource = src.name %}
      {% set declared = src.columns.values() | list %}
      {% set declared_names = declared | map(attribute='name') | list %}
      {% set listing = run_query("select file from glob(" ~ orb_sql_literal(root ~ '/' ~ resource ~ '/*') ~ ") order by file") %}
      {% set files = [] %}
      {% for row in listing.rows %}
        {% set fmt = orb_delivery_format(row[0]) %}
        {% if fmt %}
          {% do files.append({'path': row[0], 'format': fmt}) %}
        {% elif not (row[0].split('/')[-1].startswith('.') or row[0].split('/')[-1].startswith('_')) %}
          {% do exceptions.warn("Orb export: ignoring " ~ row[0] ~ " (not .parquet, .csv, .csv.gz or .jsonl)") %}
        {% endif %}
      {% endfor %}
      {% do n_files.append(files | length) %}

      {% if files | length == 0 and src.meta.get('required_resource') %}
        {% do problems.append("required resource '" ~ resource ~ "' has no delivery files in " ~ root ~ "/" ~ resource
                               ~ "/ (expected *.parquet, *.csv, *.csv.gz or *.jsonl)") %}
      {% endif %}

      {# Which columns does each file carry? One query per resource. JSON Lines has no header and
         records may leave out null fields, so a key missing from a .jsonl file reads as null; the
         staging guards still stop the build on a missing id or updated_at, naming file and row. #}
      {% set present = {} %}
      {% set types = {} %}
      {% for f in files if f.format == 'jsonl' %}
        {% do present.update({f.path: declared_names}) %}
        {% for col in declared_names %}{% do types.update({f.path ~ '|' ~ col: 'VARCHAR'}) %}{% endfor %}
      {% endfor %}
      {% set described = files | rejectattr('format', 'equalto', 'jsonl') | list %}
      {% if described %}
        {% set describe_sql %}
          {% for f in described %}
            select {{ orb_sql_literal(f.path) }} as file, lower(column_name) as column_name, column_type
            from (describe select * from {{ orb_finance.duckdb__orb_read_file(f.path, f.format) }})
            {% if not loop.last %}union all{% endif %}
          {% endfor %}
        {% endset %}
        {% for row in run_query(describe_sql).rows %}
          {% do present.setdefault(row[0], []).append(row[1]) %}
          {% do types.update({row[0] ~ '|' ~ row[1]: row[2]}) %}
        {% endfor %}
      {% endif %}

      {% set parts = [] %}
      {% set mixed = (files | map(attribute='format') | unique | list | length) > 1 %}
      {% for f in files %}
        {% set have = present.get(f.path, []) %}
        {% set selects = [] %}
        {% for col in declared %}
          {% if col.name in have %}
            {% set col_type = types[f.path ~ '|' ~ col.name] %}
            {% set quoted = adapter.quote(col.name) %}
            {% if f.format == 'csv' %}
              {# all_varchar: an empty field is already null #}
              {% do selects.append(quoted ~ " as " ~ col.name) %}
            {% elif f.format == 'jsonl' or col_type == 'VARCHAR' %}
              {# text: an empty string means "no value", as an empty CSV field does #}
              {% do selects.append("nullif(" ~ quoted ~ ", '') as " ~ col.name) %}
            {% elif col.data_type == 'json' and col_type != 'JSON' %}
              {# a nested parquet value (struct, map, list) as JSON text #}
              {% do selects.append("cast(to_json(" ~ quoted ~ ") as varchar) as " ~ col.name) %}
            {% elif mixed %}
              {% do selects.append("cast(" ~ quoted ~ " as varchar) as " ~ col.name) %}
            {% else %}
              {% do selects.append(quoted ~ " as " ~ col.name) %}
            {% endif %}
          {% elif col.meta.get('optional') %}
            {% do exceptions.warn("Orb export: " ~ resource ~ ": file " ~ f.path ~ " has no column '" ~ col.name
                                   ~ "' (optional: read as null)") %}
            {% do selects.append("cast(null as varchar) as " ~ col.name) %}
          {% else %}
            {% do problems.append("resource '" ~ resource ~ "', file " ~ f.path ~ ": missing required column '" ~ col.name ~ "'") %}
          {% endif %}
        {% endfor %}
        {% if f.format == 'parquet' %}
          {% set row_sql = "file_row_number + 1" %}
          {% set reader = "read_parquet(" ~ orb_sql_literal(f.path) ~ ", file_row_number = true)" %}
        {% else %}
          {# row_number() over () streams in file order; computed per file, before any filter. #}
          {% set row_sql = "row_number() over ()" %}
          {% set reader = orb_finance.duckdb__orb_read_file(f.path, f.format, declared_names) %}
        {% endif %}
        {% do parts.append("select " ~ selects | join(", ") ~ ", " ~ orb_sql_literal(f.path) ~ " as _file, "
                           ~ "cast(" ~ row_sql ~ " as bigint) as _row from " ~ reader) %}
      {% endfor %}

      {% if not parts %}
        {% set empty_cols = [] %}
        {% for col in declared %}{% do empty_cols.append("cast(null as varchar) as " ~ col.name) %}{% endfor %}
        {% do parts.append("select " ~ empty_cols | join(", ") ~ ", cast(null as varchar) as _file, cast(null as bigint) as _row where 1 = 0") %}
      {% endif %}

      {% set relation = api.Relation.create(database=src.database, schema=src.schema, identifier=src.identifier) %}
      {% do statements.append("create or replace view " ~ relation ~ " as\n" ~ parts | join("\nunion all by name\n")) %}
    {% endfor %}

    {% if problems %}
      {{ exceptions.raise_compiler_error("The Orb export in " ~ root ~ " cannot be built:\n  - " ~ problems | join("\n  - ")) }}
    {% endif %}

    {% set schema_rel = api.Relation.create(database=target.database, schema='orb_export') %}
    {% do adapter.create_schema(schema_rel) %}
    {% for statement in statements %}
      {% do run_query(statement) %}
    {% endfor %}
    {% do log("Orb export " ~ root ~ ": " ~ statements | length ~ " resources registered from " ~ n_files | sum ~ " delivery files", info=true) %}
  {% endif %}
{% endmacro %}


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
