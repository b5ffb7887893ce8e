#!/usr/bin/env python
"""Benchmark the warehouse build on Orb's daily deliveries: full build, one incremental night, many files, staging.

    .venv/bin/python scripts/bench.py --customers 20000 --months 24          # ~12 M daily revenue events
    .venv/bin/python scripts/bench.py --customers 200 --months 12 --reuse    # reuse the exports in the workdir

Steps, each timed in a fresh process whose peak RSS (with its children's, i.e. dbt's) is measured:
  1. generate a daily export (one file per resource per day) with its last night held back, unless --reuse;
  2. full build: the nightly's build step on its first night (`warehouse.build_and_swap`: `dbt build`, every model
     and test, into an empty file, swapped in);
  3. one night: the held-back night appended (`orbfin generate-sample --append-day`), then the nightly's build step
     (`warehouse.build_and_swap`: copy the live warehouse, merge the new files, swap); the copy is timed apart;
  4. the same night built in full, and every table compared with the incremental result (must be identical);
  5. many files: the same rows repacked into one file per resource, built in full: time against step 2;
  6. staging against a plain copy: the staging models' execution window in step 4's build (first start to last
     end) against a plain DuckDB `create table as select *` of every resource's files, same settings (2 threads,
     memory limit);
  7. with --bare: the very SQL dbt ran for every model on bare DuckDB (no dbt, no tests), marts compared.
Prints every figure (wall and CPU seconds: CPU compares steps fairly when other processes share the machine);
--json writes them to a file. Nothing heavy runs in this process (a child's peak RSS would inherit its size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orb_finance import warehouse  # noqa: E402

MEMORY_LIMIT = os.environ.get("ORB_DUCKDB_MEMORY_LIMIT", "3GB")

# Runs one step in a fresh interpreter: its wall time, its CPU time and the peak RSS of it and its children (dbt
# runs as one). CPU seconds compare steps fairly when other processes share the machine.
STEP = r'''
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
started = time.monotonic()
namespace = {}
exec(sys.argv[2], namespace)
out = namespace.get("out", {})
own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
out.update(seconds=time.monotonic() - started, peak_rss_mb=max(own.ru_maxrss, children.ru_maxrss) / 1024,
           cpu_seconds=own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime)
print("STEP " + json.dumps(out, default=str))
'''


def step(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", STEP, str(ROOT), code], cwd=ROOT, capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("STEP ")), None)
    if done.returncode != 0 or line is None:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"bench step failed: {code.splitlines()[0]}")
    return json.loads(line[5:])


def nightly_code(export: Path, live: Path, target: Path, as_of: str) -> str:
    """The nightly's build step: a copy of the live warehouse (if any) merged and swapped in."""
    return f"""
from orb_finance import warehouse
r = warehouse.build_and_swap({str(export)!r}, {str(live)!r}, as_of={as_of!r}, target_path={str(target)!r}, show_progress=False)
assert r.swapped, r.reason()
out = {{"started_from": r.started_from, "copy_seconds": r.copy_seconds, "copied_bytes": r.copied_bytes,
        "dbt_seconds": r.dbt.elapsed, "nodes": dict(r.dbt.counts())}}
"""


def build_code(export: Path, db: Path, target: Path, as_of: str, extra: str = "") -> str:
    return f"""
from orb_finance import warehouse
r = warehouse.build({str(export)!r}, {str(db)!r}, as_of={as_of!r}, target_path={str(target)!r}, show_progress=False{extra})
assert r.success, r.reason()
out = {{"dbt_seconds": r.elapsed, "nodes": dict(r.counts())}}
"""


def staging_window(run_results: Path) -> float:
    """Seconds from the first staging model's start to the last one's end (dbt's own overhead left out)."""
    results = json.loads(run_results.read_text())["results"]
    spans = []
    for r in results:
        if not r["unique_id"].startswith("model.orb_finance.stg_orb__"):
            continue
        ex = next(t for t in r["timing"] if t["name"] == "execute")
        spans.append((ex["started_at"], ex["completed_at"]))
    import datetime as dt
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(max(e for _, e in spans)) - parse(min(s for s, _ in spans))).total_seconds()


PLAIN_COPY = r'''
import duckdb, glob, os, time
export, db, memory_limit = {export!r}, {db!r}, {memory_limit!r}
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'"); con.execute("SET threads = 2"); con.execute(f"SET memory_limit = '{{memory_limit}}'")
con.execute("SET preserve_insertion_order = false")
started = time.monotonic()
for folder in sorted(glob.glob(export + "/*/")):
    files = sorted(glob.glob(folder + "*.parquet"))
    if files:
        con.execute(f"create table \"{{os.path.basename(folder.rstrip('/'))}}\" as select * from read_parquet({{files}}, union_by_name = true)")
con.execute("checkpoint")
out = {{"copy_seconds": time.monotonic() - started, "files": len(glob.glob(export + "/*/*.parquet"))}}
'''


def repack(export: Path, packed: Path) -> int:
    """The same rows, one file per resource (in the order of the daily files)."""
    import duckdb
    shutil.rmtree(packed, ignore_errors=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    n = 0
    for folder in sorted(p for p in export.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(str(p) for p in folder.glob("*.parquet"))
        if not files:
            continue
        (packed / folder.name).mkdir(parents=True)
        con.execute(f"copy (select * from read_parquet({files}, union_by_name = true)) to "
                    f"'{packed / folder.name / '2026-11-01-0000.parquet'}' (format parquet, compression zstd)")
        n += 1
    con.close()
    return n


def compare(a: Path, b: Path, schemas=("staging", "intermediate", "marts")) -> list[str]:
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    different = []
    for schema in schemas:
        tables = [r[0] for r in con.execute(f"select table_name from duckdb_tables() where database_name = 'a' "
                                            f"and schema_name = '{schema}' order by 1").fetchall()]
        for t in tables:
            diff = con.execute(f"select count(*) from ((from a.{schema}.{t} except all from b.{schema}.{t}) "
                               f"union all (from b.{schema}.{t} except all from a.{schema}.{t}))").fetchall()[0][0]
            if diff:
                different.append(f"{schema}.{t}: {diff} rows differ")
    con.close()
    return different


# --- bare DuckDB: the SQL dbt ran, without dbt -------------------------------------------------------------------

def models_in_order(manifest: dict) -> list[dict]:
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
import json, time, duckdb
plan = json.load(open({plan!r}))
con = duckdb.connect({db!r})
con.execute("SET TimeZone = 'UTC'"); con.execute("SET threads = 2"); con.execute("SET memory_limit = '" + plan["memory_limit"] + "'")
started = time.monotonic()
for statement in plan["statements"]:
    con.execute(statement)
con.execute("CHECKPOINT")
out = {{"bare_seconds": time.monotonic() - started}}
'''


def bare_plan(dbt_db: Path, manifest: dict) -> list[str]:
    import duckdb
    con = duckdb.connect(str(dbt_db), read_only=True)
    try:
        views = [r[0] for r in con.execute(
            "select sql from duckdb_views() where schema_name = 'orb_export' order by view_name").fetchall()]
    finally:
        con.close()
    statements = [f"create schema if not exists {s}" for s in ("orb_export", "staging", "intermediate", "marts", "seeds")]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=str(ROOT / "build" / "bench"))
    parser.add_argument("--reuse", action="store_true", help="reuse the export in the workdir if present")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--bare", action="store_true", help="also run dbt's SQL on bare DuckDB (step 7)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip step 4's table-by-table comparison of the night with a full build (slow at 20k)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    work = Path(args.workdir) / f"{args.customers}x{args.months}-daily"
    source = work / "generated"             # the export as generated (last night held back), kept for --reuse
    export = work / "export"                # this run's copy, to which the night is appended
    figures: dict = {"customers": args.customers, "months": args.months}
    say = lambda text: print(text, flush=True)  # noqa: E731

    if not (args.reuse and (source / ".orbfin-sample").exists()):
        shutil.rmtree(source, ignore_errors=True)
        figures["generate"] = step(f"""
from pathlib import Path
from orb_finance.exports.generate import generate_sample
s = generate_sample(Path({str(source)!r}), customers={args.customers}, months={args.months}, seed={args.seed},
                    layout="daily", hold_back_days=1)
out = {{"files": s.files, "rows": s.total_rows}}
""")
        say(f"generate: {figures['generate']['seconds']:.0f} s, peak RSS {figures['generate']['peak_rss_mb']:.0f} MB, "
            f"{figures['generate']['files']:,} files delivered")
    shutil.rmtree(export, ignore_errors=True)
    shutil.copytree(source, export, copy_function=shutil.copy2)
    files = sum(1 for p in export.glob("[!.]*/*") if p.is_file())
    figures["files"] = files

    # 2. full build: the nightly's first night (its side file starts empty)
    full_dir = work / "full"
    shutil.rmtree(full_dir, ignore_errors=True)
    full_dir.mkdir(parents=True)
    live = full_dir / "orb_finance.duckdb"
    step(f"""
from orb_finance import warehouse
for kind, env in (("full", {{}}), ("incremental", {{"ORB_DUCKDB_MEMORY_LIMIT": warehouse.NIGHT_MEMORY_LIMIT}})):
    warehouse.run_dbt(["parse"], export_dir={str(export)!r}, duckdb_path={str(warehouse.building_path(live))!r},
                      target_path={str(full_dir / 'target-nightly')!r} + "/" + kind,
                      show_progress=False, extra_env={{**env, "ORB_AS_OF_DATE": {args.as_of!r}}})
""")                         # dbt has parsed the project once for each kind of night, as on any night but the first
    figures["full_build"] = step(nightly_code(export, live, full_dir / "target-nightly", args.as_of))
    assert figures["full_build"]["started_from"] == "empty"
    say(f"full build, {files:,} files: {figures['full_build']['seconds']:.1f} s "
        f"(dbt {figures['full_build']['dbt_seconds']:.1f} s, CPU {figures['full_build']['cpu_seconds']:.0f} s), "
        f"peak RSS {figures['full_build']['peak_rss_mb']:.0f} MB")
    figures["staged_rows"] = _staged_rows(live)
    figures["warehouse_bytes"] = live.stat().st_size

    # 3. one night
    night = step(f"""
from pathlib import Path
from orb_finance.exports.deliveries import append_day
s = append_day(Path({str(export)!r}))
out = {{"night": s.nights[0].isoformat(), "files": sum(s.files.values()), "bytes": s.bytes}}
""")
    # as on a real night, the as-of date is the new day's
    figures["night"] = step(nightly_code(export, live, full_dir / "target-nightly", night["night"]))
    figures["night"].update(appended=night)
    n, f = figures["night"], figures["full_build"]
    assert n["started_from"] == "copy", "the night did not start from a copy of the live warehouse"
    say(f"one night ({night['files']} new files, {night['bytes'] / 1e6:.1f} MB): {n['seconds']:.1f} s "
        f"(copy {n['copy_seconds']:.1f} s of {n['copied_bytes'] / 1e9:.2f} GB, dbt {n['dbt_seconds']:.1f} s, "
        f"CPU {n['cpu_seconds']:.0f} s), peak RSS {n['peak_rss_mb']:.0f} MB; {n['seconds'] / f['seconds']:.2f} of the "
        f"full build's time, {n['cpu_seconds'] / f['cpu_seconds']:.2f} of its CPU")

    # 4. the same night in full: identical?
    check = work / "full-after-night"
    shutil.rmtree(check, ignore_errors=True)
    check.mkdir(parents=True)
    figures["full_after_night"] = step(build_code(export, check / "orb_finance.duckdb", check / "target",
                                                  night["night"]))
    figures["night_differs"] = None if args.no_compare else step(f"""
import sys
sys.path.insert(0, {str(ROOT / 'scripts')!r})
from bench import compare
from pathlib import Path
out = {{"differs": compare(Path({str(live)!r}), Path({str(check / 'orb_finance.duckdb')!r}))}}
""")["differs"]
    say(f"full build after the night: {figures['full_after_night']['seconds']:.1f} s; incremental result identical: "
        + ("not compared (--no-compare)" if figures["night_differs"] is None else
           "yes" if not figures["night_differs"] else "NO: " + "; ".join(figures["night_differs"])))

    # 5. the same rows in few files
    packed = work / "packed"
    shutil.rmtree(packed, ignore_errors=True)
    figures["packed_files"] = step(f"""
import sys
sys.path.insert(0, {str(ROOT / 'scripts')!r})
from bench import repack
from pathlib import Path
out = {{"files": repack(Path({str(export)!r}), Path({str(packed / 'export')!r}))}}
""")["files"]
    figures["packed_build"] = step(build_code(packed / "export", packed / "orb_finance.duckdb", packed / "target", args.as_of))
    figures["files_cost"] = figures["full_after_night"]["seconds"] / figures["packed_build"]["seconds"]
    say(f"the same rows in {figures['packed_files']} files: {figures['packed_build']['seconds']:.1f} s, peak RSS "
        f"{figures['packed_build']['peak_rss_mb']:.0f} MB; {files + night['files']:,} files cost "
        f"x{figures['files_cost']:.2f}")

    # 6. staging against a plain copy: the staging models' window in step 4's full build
    figures["staging_seconds"] = staging_window(check / "target" / "run_results.json")
    plain = work / "plain-copy"
    shutil.rmtree(plain, ignore_errors=True)
    plain.mkdir(parents=True)
    figures["plain_copy"] = step(PLAIN_COPY.format(export=str(export), db=str(plain / "copy.duckdb"),
                                                   memory_limit=MEMORY_LIMIT))
    figures["staging_ratio"] = figures["staging_seconds"] / figures["plain_copy"]["copy_seconds"]
    say(f"staging (models' window) {figures['staging_seconds']:.1f} s vs plain DuckDB copy of the same files "
        f"{figures['plain_copy']['copy_seconds']:.1f} s: x{figures['staging_ratio']:.2f}")

    # 7. bare DuckDB
    if args.bare:
        manifest = json.loads((check / "target" / "manifest.json").read_text())
        bare = work / "bare"
        shutil.rmtree(bare, ignore_errors=True)
        bare.mkdir(parents=True)
        (bare / "plan.json").write_text(json.dumps({"statements": bare_plan(check / "orb_finance.duckdb", manifest),
                                                    "memory_limit": MEMORY_LIMIT}))
        figures["bare"] = step(BARE_RUNNER.format(plan=str(bare / "plan.json"), db=str(bare / "orb_finance.duckdb")))
        figures["bare_differs"] = step(f"""
import sys
sys.path.insert(0, {str(ROOT / 'scripts')!r})
from bench import compare
from pathlib import Path
out = {{"differs": compare(Path({str(check / 'orb_finance.duckdb')!r}), Path({str(bare / 'orb_finance.duckdb')!r}), ("marts",))}}
""")["differs"]
        say(f"bare DuckDB (the same SQL, no dbt): {figures['bare']['bare_seconds']:.1f} s; marts identical: "
            + ("yes" if not figures["bare_differs"] else "NO"))

    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 0 if not figures["night_differs"] and not figures.get("bare_differs") else 1


def _staged_rows(db: Path) -> int:
    import duckdb
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'staging'").fetchall()]
        return sum(con.execute(f"select count(*) from staging.{t}").fetchall()[0][0] for t in tables)
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
