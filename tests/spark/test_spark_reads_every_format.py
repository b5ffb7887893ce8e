"""Spark reads CSV (plain and gzipped) and JSON Lines exports as DuckDB does: every staged table equal.

One small export whose resources come in different formats (the same generated data, seed for seed, written
as parquet, CSV, gzipped CSV and JSON Lines): the staging models on Spark and on DuckDB must give the same
columns, types and rows, including each record's file and 1-based position in it (`source_row`), which
staging uses to break ties between two versions of a record with the same `updated_at`.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from orb_finance import warehouse
from orb_finance.exports.generate import generate_sample

STAGING = ["path:seeds", "path:models/staging"]
FORMATS = ["csv", "jsonl", "csv.gz", "parquet"]


def mixed_export(root: Path) -> dict[str, str]:
    """One export, resource i in FORMATS[i % 4]; returns resource -> format."""
    for fmt in ("parquet", "csv", "jsonl"):
        generate_sample(out_dir=root / fmt, customers=20, months=3, seed=5, fmt=fmt)
    export, chosen = root / "export", {}
    for i, resource_dir in enumerate(sorted(p for p in (root / "parquet").iterdir() if p.is_dir())):
        fmt = FORMATS[i % len(FORMATS)]
        source = root / fmt.removesuffix(".gz") / resource_dir.name
        target = export / resource_dir.name
        target.mkdir(parents=True)
        for f in sorted(source.iterdir()):
            if fmt == "csv.gz":
                with open(f, "rb") as raw, gzip.open(target / (f.name + ".gz"), "wb") as packed:
                    shutil.copyfileobj(raw, packed)
            else:
                shutil.copy(f, target / f.name)
        chosen[resource_dir.name] = fmt
    return chosen


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_formats")
    chosen = mixed_export(root)
    export = root / "export"
    duck = warehouse.build(export, root / "orb_finance.duckdb", select=STAGING, target_path=root / "target-duckdb",
                           show_progress=False)
    assert duck.success, duck.reason()
    spark_dir = root / "spark-warehouse"
    spark = warehouse.build(export, root / "unused.duckdb", select=STAGING, target="spark", spark_warehouse=spark_dir,
                            target_path=root / "target-spark", show_progress=False)
    assert spark.success, spark.reason()
    con = duckdb.connect()
    con.execute(f"attach '{root / 'orb_finance.duckdb'}' as duck (read_only)")
    yield con, spark_dir / "staging.db", chosen, duck, spark
    con.close()


def test_the_export_mixes_every_format(staged):
    _, _, chosen, _, _ = staged
    assert set(chosen.values()) == set(FORMATS)
    assert len(chosen) >= 20


def test_every_staging_model_and_test_ran_on_both(staged):
    _, _, _, duck, spark = staged
    assert duck.counts() == spark.counts()
    assert duck.counts()["success"] >= 20 and duck.counts()["pass"] >= 100     # models and seeds; tests


def test_every_staged_table_is_identical_on_spark(staged):
    con, spark_staging, _, _, _ = staged
    tables = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'duck' and table_schema = 'staging' "
        "and table_name like 'stg_orb__%' order by 1").fetchall()]
    assert len(tables) >= 20
    compared_rows = 0
    for table in tables:
        spark_rel = f"read_parquet('{spark_staging / table}/*.parquet')"
        duck_cols = con.execute(
            "select column_name, data_type from information_schema.columns where table_catalog = 'duck' "
            f"and table_schema = 'staging' and table_name = '{table}' order by ordinal_position").fetchall()
        spark_cols = [(n, t) for n, t, *_ in con.execute(f"describe select * from {spark_rel}").fetchall()]
        assert spark_cols == duck_cols, table
        # Spark names a file by URI (file:///...), DuckDB by path: compare the path.
        select = ", ".join(
            "regexp_replace(source_file, '^file:(//)?', '') as source_file" if n == "source_file" else n
            for n, _ in duck_cols)
        only_duck = con.execute(f"select {select} from duck.staging.{table} except all select {select} from {spark_rel}").fetchall()
        only_spark = con.execute(f"select {select} from {spark_rel} except all select {select} from duck.staging.{table}").fetchall()
        assert only_duck == [] and only_spark == [], (table, only_duck[:2], only_spark[:2])
        compared_rows += con.execute(f"select count(*) from duck.staging.{table}").fetchall()[0][0]
    assert compared_rows > 1000


def test_a_resource_directory_mixing_formats_is_refused_on_spark_by_name(staged, tmp_path):
    # DuckDB reads a directory that mixes formats file by file; Spark's file sources read a whole directory.
    _, spark_staging, chosen, _, _ = staged
    root = spark_staging.parents[1]                 # <root>/spark-warehouse/staging.db
    export = tmp_path / "export"
    shutil.copytree(root / "export", export)
    csv_resource = next(r for r, fmt in chosen.items() if fmt == "csv")
    parquet_source = root / "parquet" / csv_resource
    shutil.copy(next(parquet_source.glob("*.parquet")), export / csv_resource / "late_delivery.parquet")
    result = warehouse.build(export, tmp_path / "unused.duckdb", select=["path:seeds"], target="spark",
                             spark_warehouse=tmp_path / "spark-warehouse", target_path=tmp_path / "target",
                             show_progress=False)
    assert not result.success
    assert f"resource '{csv_resource}'" in result.reason() and "csv,parquet" in result.reason()
