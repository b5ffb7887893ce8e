"""The same models, unchanged, on Spark: every mart equals DuckDB's, row for row, decimals exact.

`make test-spark`: generate a parquet sample export, `dbt build` it on DuckDB and with `--target spark`
(dbt-spark's session method on a local pyspark, in-memory catalog; tables land as parquet files under
the Spark warehouse directory), then compare each mart's column names, types and rows. Both builds run
every model and every test. Build times go to build/spark-compare.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orb_finance import paths, warehouse
from orb_finance.exports.generate import generate_sample

SPEC_MARTS = [
    "billings_monthly", "invoice_status_summary", "ar_aging", "ar_aging_summary", "revenue_daily",
    "revenue_monthly", "revenue_lock_adjusted_monthly", "credit_note_summary", "deferred_revenue_rollforward",
    "payment_reconciliation", "sync_customers", "sync_invoices", "sync_invoice_lines", "sync_credit_memos",
    "sync_payments",
]
AS_OF = "2026-10-31"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_vs_duckdb")
    export = root / "export"
    generate_sample(out_dir=export, customers=200, months=12, seed=11, fmt="parquet")

    duck = warehouse.build(export, root / "orb_finance.duckdb", as_of=AS_OF, target_path=root / "target-duckdb",
                           show_progress=False)
    assert duck.success, duck.reason()
    spark_dir = root / "spark-warehouse"
    spark = warehouse.build(export, root / "unused.duckdb", as_of=AS_OF, target="spark", spark_warehouse=spark_dir,
                            target_path=root / "target-spark", show_progress=False)
    assert spark.success, spark.reason()

    figures = {"duckdb_build_seconds": round(duck.elapsed, 1), "spark_build_seconds": round(spark.elapsed, 1),
               "duckdb_nodes": dict(duck.counts()), "spark_nodes": dict(spark.counts())}
    (paths.PROJECT_ROOT / "build").mkdir(exist_ok=True)
    (paths.PROJECT_ROOT / "build" / "spark-compare.json").write_text(json.dumps(figures, indent=2))
    print(f"\nDuckDB build {duck.elapsed:.1f}s, Spark build {spark.elapsed:.1f}s")

    con = duckdb.connect()
    con.execute(f"attach '{root / 'orb_finance.duckdb'}' as duck (read_only)")
    yield con, spark_dir / "marts.db", duck, spark
    con.close()


def test_both_builds_ran_every_node(builds):
    _, _, duck, spark = builds
    assert duck.counts() == spark.counts()
    assert sum(duck.counts().values()) > 300


@pytest.mark.parametrize("mart", SPEC_MARTS)
def test_mart_is_identical_on_spark(builds, mart):
    con, spark_marts, _, _ = builds
    spark_files = f"read_parquet('{spark_marts / mart}/*.parquet')"
    duck_columns = con.execute(
        f"select column_name, data_type from information_schema.columns "
        f"where table_catalog = 'duck' and table_schema = 'marts' and table_name = '{mart}' order by ordinal_position"
    ).fetchall()
    spark_columns = [(name, dtype) for name, dtype, *_ in con.execute(f"describe select * from {spark_files}").fetchall()]
    assert spark_columns == duck_columns

    rows = con.execute(f"select count(*) from duck.marts.{mart}").fetchall()[0][0]
    assert rows == con.execute(f"select count(*) from {spark_files}").fetchall()[0][0]
    only_duckdb = con.execute(f"select * from duck.marts.{mart} except all select * from {spark_files}").fetchall()
    only_spark = con.execute(f"select * from {spark_files} except all select * from duck.marts.{mart}").fetchall()
    assert only_duckdb == [] and only_spark == []


def test_the_comparison_sees_data(builds):
    """Guard against comparing empty tables: the sample has rows in every finance mart."""
    con, _, _, _ = builds
    for mart in SPEC_MARTS:
        assert con.execute(f"select count(*) from duck.marts.{mart}").fetchall()[0][0] > 0, mart
