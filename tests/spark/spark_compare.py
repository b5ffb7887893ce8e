"""What both Spark tests share: build one export on DuckDB and on Spark, and compare a table of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from orb_finance import warehouse


@dataclass
class Builds:
    con: duckdb.DuckDBPyConnection      # the DuckDB build attached read-only as `duck`
    spark_dir: Path                     # Spark's warehouse directory: <schema>.db/<table>/*.parquet
    duck: warehouse.DbtResult
    spark: warehouse.DbtResult


def build_on_both(export: Path, root: Path, **build_args) -> Builds:
    """`dbt build` of `export` into a DuckDB file under `root` and on Spark (warehouse under `root`)."""
    duck = warehouse.build(export, root / "orb_finance.duckdb", target_path=root / "target-duckdb",
                           show_progress=False, **build_args)
    assert duck.success, duck.reason()
    spark_dir = root / "spark-warehouse"
    spark = warehouse.build(export, root / "unused.duckdb", target="spark", spark_warehouse=spark_dir,
                            target_path=root / "target-spark", show_progress=False, **build_args)
    assert spark.success, spark.reason()
    con = duckdb.connect()
    con.execute(f"attach '{root / 'orb_finance.duckdb'}' as duck (read_only)")
    return Builds(con, spark_dir, duck, spark)


def assert_same_table(builds: Builds, schema: str, table: str) -> int:
    """The Spark table has DuckDB's column names and types and the same rows (a multiset, decimals exact);
    returns the row count. Spark names a delivery file by URI (file:///...), DuckDB by path: a `source_file`
    column is compared as a path."""
    con = builds.con
    spark_rel = f"read_parquet('{builds.spark_dir / (schema + '.db') / table}/*.parquet')"
    duck_columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = 'duck' "
        f"and table_schema = '{schema}' and table_name = '{table}' order by ordinal_position").fetchall()
    spark_columns = [(name, dtype) for name, dtype, *_ in con.execute(f"describe select * from {spark_rel}").fetchall()]
    assert spark_columns == duck_columns, table
    select = ", ".join("regexp_replace(source_file, '^file:(//)?', '') as source_file" if name == "source_file"
                       else name for name, _ in duck_columns)
    rows = con.execute(f"select count(*) from duck.{schema}.{table}").fetchall()[0][0]
    assert rows == con.execute(f"select count(*) from {spark_rel}").fetchall()[0][0], table
    only_duckdb = con.execute(
        f"select {select} from duck.{schema}.{table} except all select {select} from {spark_rel}").fetchall()
    only_spark = con.execute(
        f"select {select} from {spark_rel} except all select {select} from duck.{schema}.{table}").fetchall()
    assert only_duckdb == [] and only_spark == [], (table, only_duckdb[:2], only_spark[:2])
    return rows
