{#
  dbt-duckdb names the warehouse's catalog after its file (`o'reilly.duckdb` -> `o'reilly`) and writes that name
  into SQL string literals unescaped in the macros below (dbt-duckdb 1.11.1, adapters.sql and catalog.sql): a
  warehouse file with an apostrophe in its name failed every build with "Parser Error: unterminated quoted
  identifier". These are dbt-duckdb's macros with each name escaped (`adapter.escape_sql_string`, '' for ');
  the root project's macros take precedence over the adapter's. Same SQL otherwise: when dbt-duckdb is
  upgraded, compare them with its own (tests/python/test_bad_input.py builds a warehouse named o'reilly).
#}

{% macro duckdb__create_schema(relation) -%}
  {%- call statement('create_schema') -%}
    {% set sql %}
        select type from duckdb_databases()
        where lower(database_name)='{{ adapter.escape_sql_string(relation.database | lower) }}'
        and type != 'duckdb'
    {% endset %}
    {% set results = run_query(sql) %}
    {% if results|length == 0 %}
        create schema if not exists {{ relation.without_identifier() }}
    {% else %}
        {% set attached_type = results.columns[0].values()[0] %}
        {% if attached_type == 'sqlite' and relation.schema != 'main' %}
            {{ exceptions.raise_compiler_error(
                "Schema must be 'main' when writing to sqlite "
                ~ "instead got " ~ relation.schema
            )}}
        {% elif attached_type not in ['sqlite', 'mysql'] %}
            create schema if not exists {{ relation.without_identifier() }}
        {% endif %}
    {% endif %}
  {%- endcall -%}
{% endmacro %}

{% macro duckdb__list_schemas(database) -%}
  {% set sql %}
    select schema_name
    from system.information_schema.schemata
    {% if database is not none %}
    where lower(catalog_name) = '{{ adapter.escape_sql_string(database | lower) }}'
    {% endif %}
  {% endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}

{% macro duckdb__check_schema_exists(information_schema, schema) -%}
  {% set sql -%}
        select count(*)
        from system.information_schema.schemata
        where lower(schema_name) = '{{ adapter.escape_sql_string(schema | lower) }}'
        and lower(catalog_name) = '{{ adapter.escape_sql_string(information_schema.database | lower) }}'
  {%- endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}

{% macro duckdb__list_relations_without_caching(schema_relation) %}
  {% call statement('list_relations_without_caching', fetch_result=True) -%}
    select
      '{{ adapter.escape_sql_string(schema_relation.database) }}' as database,
      table_name as name,
      table_schema as schema,
      CASE table_type
        WHEN 'BASE TABLE' THEN 'table'
        WHEN 'VIEW' THEN 'view'
        WHEN 'LOCAL TEMPORARY' THEN 'table'
        END as type
    from system.information_schema.tables
    where lower(table_schema) = '{{ adapter.escape_sql_string(schema_relation.schema | lower) }}'
    and lower(table_catalog) = '{{ adapter.escape_sql_string(schema_relation.database | lower) }}'
  {% endcall %}
  {{ return(load_result('list_relations_without_caching').table) }}
{% endmacro %}

{% macro drop_indexes_on_relation(relation) -%}
  {% call statement('get_indexes_on_relation', fetch_result=True, auto_begin=False) %}
    SELECT index_name
    FROM duckdb_indexes()
    WHERE database_name = '{{ adapter.escape_sql_string(relation.database) }}'
      AND schema_name = '{{ adapter.escape_sql_string(relation.schema) }}'
      AND table_name = '{{ adapter.escape_sql_string(relation.identifier) }}'
  {% endcall %}

  {% set results = load_result('get_indexes_on_relation').table %}
  {% for row in results %}
    {% set index_name = row[0] %}
    {% call statement('drop_index_' + loop.index|string, auto_begin=false) %}
      DROP INDEX "{{ relation.database }}"."{{ relation.schema }}"."{{ index_name }}"
    {% endcall %}
  {% endfor %}
{%- endmacro %}

{% macro duckdb__get_catalog_tables_sql(information_schema) -%}
    {%- set database = adapter.escape_sql_string(information_schema.database) -%}
    select *
    from (
        select
            t.database_name as table_database,
            t.schema_name as table_schema,
            t.table_name as table_name,
            'BASE TABLE' as table_type,
            t.comment as table_comment
        from duckdb_tables() t
        where upper(t.database_name) = upper('{{ database }}')

        union all

        select
            v.database_name as table_database,
            v.schema_name as table_schema,
            v.view_name as table_name,
            'VIEW' as table_type,
            v.comment as table_comment
        from duckdb_views() v
        where upper(v.database_name) = upper('{{ database }}')
    ) catalog_tables
{%- endmacro %}

{% macro duckdb__get_catalog_columns_sql(information_schema) -%}
    select *
    from (
        select
            c.database_name as table_database,
            c.schema_name as table_schema,
            c.table_name as table_name,
            c.column_name as column_name,
            c.column_index as column_index,
            c.data_type as column_type,
            c.comment as column_comment
        from duckdb_columns() c
        where upper(c.database_name) = upper('{{ adapter.escape_sql_string(information_schema.database) }}')
    ) catalog_columns
{%- endmacro %}
