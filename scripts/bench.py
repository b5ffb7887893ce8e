#!/usr/bin/env python
"""Benchmark the warehouse build: `dbt build` against the same mart computations as bare DuckDB SQL.

    .venv/bin/python scripts/bench.py --customers 20000 --months 24          # ~10 M daily revenue events
    .venv/bin/python scripts/bench.py --customers 200 --months 12 --reuse    # reuse an existing export

Steps, each timed, each process's peak RSS measured:
  1. generate a sample export (orbfin generate-sample) unless --reuse finds one;
  2. `dbt build` of every model and test into a fresh DuckDB file (a subprocess, as in production);
  3. bare DuckDB: in a fresh process and file, the very SQL dbt ran for every model (read from dbt's
     manifest, in dependency order, over the same export views), with no dbt, no tests, no contracts,
     and the profile's DuckDB settings (2 threads, memory_limit, UTC);
  4. check both warehouses hold the same rows in every mart.
Prints both times, their ratio, input rows per second and peak memory; --json writes them to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orb_finance import warehouse  # noqa: E402


def child_peak_rss_mb() -> float:
    """Peak RSS of the largest child process waited for so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def generate(export: Path, customers: int, months: int, seed: int, fmt: str) -> dict:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "orb_finance.cli", "generate-sample", "--out", str(export),
                    "--customers", str(customers), "--months", str(months), "--seed", str(seed),
                    "--format", fmt], check=True, cwd=ROOT)
    return {"seconds": time.monotonic() - started}


def input_rows(db: Path) -> dict[str, int]:
    """Rows of every staged table (what the build read, after deduplication)."""
    import duckdb
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'staging' order by 1").fetchall()]
        counts = {t: con.execute(f"select count(*) from staging.{t}").fetchall()[0][0] for t in tables}
    finally:
        con.close()
    return {"staged_rows": sum(counts.values()), **counts}


def models_in_order(manifest: dict) -> list[dict]:
    """The project's models (and seeds) in an order where every model follows its parents."""
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    order, seen = [], set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in nodes:
            return
        seen.add(uid)
        for parent in nodes[uid]["depends_on"].get("nodes", []):
            visit(parent)
        order.append(nodes[uid])

    for uid in sorted(nodes):
        visit(uid)
    return order


BARE_RUNNER = r'''
import json, resource, sys, time, duckdb
db_path, plan_path = sys.argv[1], sys.argv[2]
plan = json.load(open(plan_path))
con = duckdb.connect(db_path)
con.execute("SET TimeZone = 'UTC'")
con.execute("SET threads = 2")
con.execute("SET memory_limit = '" + plan["memory_limit"] + "'")   # the profile's settings: a fair comparison
started = time.monotonic()
for statement in plan["statements"]:
    con.execute(statement)
con.execute("CHECKPOINT")
elapsed = time.monotonic() - started
con.close()
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def bare_plan(dbt_db: Path, manifest: dict) -> list[str]:
    """SQL statements that compute every model like dbt did: export views, the seed, then each model."""
    import duckdb
    con = duckdb.connect(str(dbt_db), read_only=True)
    try:
        views = [r[0] for r in con.execute(
            "select sql from duckdb_views() where schema_name = 'orb_export' order by view_name").fetchall()]
    finally:
        con.close()
    statements = ["create schema if not exists orb_export", "create schema if not exists staging",
                  "create schema if not exists intermediate", "create schema if not exists marts",
                  "create schema if not exists seeds"]
    statements += [v.replace("CREATE VIEW ", "CREATE OR REPLACE VIEW orb_export.", 1)
                   if "orb_export." not in v.split("AS", 1)[0] else v for v in views]
    for node in models_in_order(manifest):
        relation = f'"{node["schema"]}"."{node["alias"]}"'
        if node["resource_type"] == "seed":
            csv = ROOT / node["original_file_path"]
            statements.append(
                f"create table {relation} as select cast(currency_code as varchar) as currency_code, "
                f"cast(minor_unit as integer) as minor_unit, cast(currency_name as varchar) as currency_name "
                f"from read_csv('{csv}', header = true, all_varchar = true)")
        else:
            statements.append(f"create table {relation} as {node['compiled_code']}")
    return statements


def compare_marts(a: Path, b: Path) -> list[str]:
    import duckdb
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    marts = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = 'a' and schema_name = 'marts' order by 1").fetchall()]
    different = []
    for m in marts:
        diff = con.execute(f"select count(*) from ((from a.marts.{m} except all from b.marts.{m}) "
                           f"union all (from b.marts.{m} except all from a.marts.{m}))").fetchall()[0][0]
        if diff:
            different.append(f"{m}: {diff} rows differ")
    con.close()
    return different


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv", "jsonl"])
    parser.add_argument("--workdir", default=str(ROOT / "build" / "bench"))
    parser.add_argument("--reuse", action="store_true", help="reuse the export in the workdir if present")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    work = Path(args.workdir) / f"{args.customers}x{args.months}-{args.format}"
    export = work / "export"
    figures: dict = {"customers": args.customers, "months": args.months, "format": args.format}

    if not (args.reuse and export.exists()):
        shutil.rmtree(export, ignore_errors=True)
        figures["generate"] = generate(export, args.customers, args.months, args.seed, args.format)
        figures["generate"]["peak_rss_mb"] = child_peak_rss_mb()
        print(f"generate: {figures['generate']['seconds']:.1f} s, peak RSS {figures['generate']['peak_rss_mb']:.0f} MB")

    dbt_dir = work / "dbt"
    shutil.rmtree(dbt_dir, ignore_errors=True)
    dbt_dir.mkdir(parents=True)
    dbt_db = dbt_dir / "orb_finance.duckdb"
    result = warehouse.build(export, dbt_db, as_of=args.as_of, target_path=dbt_dir / "target", show_progress=False)
    if not result.success:
        print(f"dbt build failed: {result.reason()}", file=sys.stderr)
        return 1
    counts = result.counts()
    figures["dbt_build"] = {"seconds": result.elapsed, "peak_rss_mb": child_peak_rss_mb(), "nodes": dict(counts)}
    slowest = sorted(result.nodes, key=lambda n: n.execution_time, reverse=True)[:8]
    figures["dbt_build"]["slowest"] = [(n.name, round(n.execution_time, 2)) for n in slowest]
    print(f"dbt build: {result.elapsed:.1f} s, peak RSS {figures['dbt_build']['peak_rss_mb']:.0f} MB, {dict(counts)}")

    manifest = json.loads((dbt_dir / "target" / "manifest.json").read_text())
    bare_dir = work / "bare"
    shutil.rmtree(bare_dir, ignore_errors=True)
    bare_dir.mkdir(parents=True)
    plan = bare_dir / "plan.json"
    plan.write_text(json.dumps({"statements": bare_plan(dbt_db, manifest),
                                "memory_limit": os.environ.get("ORB_DUCKDB_MEMORY_LIMIT", "3GB")}))
    bare_db = bare_dir / "orb_finance.duckdb"
    out = subprocess.run([sys.executable, "-c", BARE_RUNNER, str(bare_db), str(plan)], check=True,
                         capture_output=True, text=True, env={**os.environ})
    figures["bare_duckdb"] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"bare DuckDB: {figures['bare_duckdb']['seconds']:.1f} s, peak RSS {figures['bare_duckdb']['peak_rss_mb']:.0f} MB")

    rows = input_rows(dbt_db)
    figures["staged_rows"] = rows["staged_rows"]
    figures["daily_line_item_revenue_event_rows"] = rows.get("stg_orb__daily_line_item_revenue_event")
    figures["ratio_dbt_to_bare"] = result.elapsed / figures["bare_duckdb"]["seconds"]
    figures["rows_per_second_dbt"] = rows["staged_rows"] / result.elapsed
    figures["rows_per_second_bare"] = rows["staged_rows"] / figures["bare_duckdb"]["seconds"]
    figures["marts_differ"] = compare_marts(dbt_db, bare_db)

    print(f"staged rows: {rows['staged_rows']:,} (daily revenue events: {figures['daily_line_item_revenue_event_rows']:,})")
    print(f"ratio dbt build / bare DuckDB: {figures['ratio_dbt_to_bare']:.2f}x "
          f"({figures['rows_per_second_dbt']:,.0f} vs {figures['rows_per_second_bare']:,.0f} rows/s)")
    print("slowest dbt nodes: " + ", ".join(f"{n} {s}s" for n, s in figures["dbt_build"]["slowest"]))
    print("marts identical: " + ("yes" if not figures["marts_differ"] else "NO: " + "; ".join(figures["marts_differ"])))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 0 if not figures["marts_differ"] else 1


if __name__ == "__main__":
    sys.exit(main())
