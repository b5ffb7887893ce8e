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

import pytest
from spark_compare import assert_same_table, build_on_both

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
            if fmt == "csv.gz" and not f.name.endswith(".gz"):   # (the generator gzips the big feeds already)
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
    both = build_on_both(root / "export", root, select=STAGING)
    yield root, chosen, both
    both.con.close()


def test_the_export_mixes_every_format(staged):
    _, chosen, _ = staged
    assert set(chosen.values()) == set(FORMATS)
    assert len(chosen) >= 20


def test_every_staging_model_and_test_ran_on_both(staged):
    _, _, both = staged
    assert both.duck.counts() == both.spark.counts()
    assert both.duck.counts()["success"] >= 20                                          # models and seeds
    # each staging model's column checks (one test node per model) passed on both engines
    for result in (both.duck, both.spark):
        staged = {n.name for n in result.nodes if n.resource_type == "model" and n.name.startswith("stg_orb__")}
        passed = {n.name for n in result.nodes if n.status == "pass"}
        assert len(staged) >= 20 and {f"column_checks_{model}" for model in staged} <= passed


def test_every_staged_table_is_identical_on_spark(staged):
    _, _, both = staged
    tables = [r[0] for r in both.con.execute(
        "select table_name from information_schema.tables where table_catalog = 'duck' and table_schema = 'staging' "
        "and table_name like 'stg_orb__%' order by 1").fetchall()]
    assert len(tables) >= 20
    assert sum(assert_same_table(both, "staging", table) for table in tables) > 1000


def test_a_resource_directory_mixing_formats_is_refused_on_spark_by_name(staged, tmp_path):
    # DuckDB reads a directory that mixes formats file by file; Spark's file sources read a whole directory.
    root, chosen, _ = staged
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
