"""The `orbfin` command line: parses arguments, calls the module that owns the job, prints the result.

No logic lives here. Problems a user can fix (OrbFinanceError) print as one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from . import paths
from .errors import OrbFinanceError

console = Console()
err_console = Console(stderr=True)


def _cmd_generate_sample(args: argparse.Namespace) -> int:
    if args.append_day:
        from .exports.deliveries import append_day

        console.print(append_day(paths.resolve(args.out)).render())
        return 0
    from .exports.generate import generate_sample

    summary = generate_sample(
        out_dir=paths.resolve(args.out), customers=args.customers, months=args.months, seed=args.seed,
        fmt=args.format, end_date=args.end_date, console=err_console, layout=args.deliveries,
        hold_back_days=args.hold_back_days,
    )
    console.print(summary.render())
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from . import warehouse

    result = warehouse.build(args.export_dir, args.duckdb_path, as_of=args.as_of, select=args.select, console=err_console,
                             target=args.target, spark_warehouse=args.spark_warehouse, full_refresh=args.full_refresh)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts().items()))
    if not result.success:
        raise OrbFinanceError(f"dbt build failed after {result.elapsed:.1f}s ({counts}): {result.reason()}")
    where = result.duckdb_path if args.target == "duckdb" else f"Spark tables under {args.spark_warehouse or '$ORB_SPARK_WAREHOUSE'}"
    console.print(f"dbt build OK in {result.elapsed:.1f}s ({counts}); warehouse: {where}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(customers=args.customers, months=args.months, seed=args.seed, console=console, err_console=err_console)


def _cmd_docs(args: argparse.Namespace) -> int:
    from . import warehouse

    result = warehouse.run_dbt(["docs", "generate", "--static"], export_dir=args.export_dir, duckdb_path=args.duckdb_path,
                               console=err_console)
    if not result.success:
        raise OrbFinanceError(f"dbt docs generate failed: {result.reason()}")
    console.print(f"dbt docs: {paths.PROJECT_ROOT / 'target' / 'static_index.html'}")
    return 0


# --- orbfin nightly (SPEC §6; logic in orb_finance/nightly.py) -----------------------------------------

def _cmd_nightly(args: argparse.Namespace) -> int:
    from . import nightly

    result = nightly.run(args.export_dir, as_of=args.as_of, config=args.config, duckdb_path=args.duckdb_path,
                         reports_dir=args.reports_dir, max_age_hours=args.max_age_hours, skip_build=args.skip_build,
                         full_refresh=args.full_refresh, console=err_console)
    console.print(result.table())
    if result.run_json:
        console.print(f"run.json: {result.run_json}", markup=False, highlight=False, soft_wrap=True)
    out = console if result.exit_code == 0 else err_console
    out.print(result.closing_line(), markup=False, highlight=False, soft_wrap=True)
    return result.exit_code


def _add_nightly_parser(sub) -> None:
    from .nightly import DEFAULT_REPORTS_DIR, EXIT_CODES_HELP
    from .validate import DEFAULT_MAX_AGE_HOURS

    p = sub.add_parser("nightly", help="validate the export, build and swap the warehouse, sync, write the reports",
                       description="The nightly job (SPEC §6): validate the export directory; dbt build into a copy of\n"
                       "the warehouse (merging only the delivery files not yet processed), swapped into place only\n"
                       "when every model and test passed; run the accounting sync; write reports/<as-of>/ (workbook,\n"
                       "CSV files, HTML summary) and run.json.",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export-dir", default=None, help="the Orb export (default: $ORB_EXPORT_PATH)")
    p.add_argument("--as-of", default=None, help="YYYY-MM-DD: AR aging date and report folder name (default: today, UTC)")
    p.add_argument("--config", default=None, help="accounting sync settings (default: accounting_sync.yml in the project root)")
    p.add_argument("--duckdb-path", default=None, help=f"the live warehouse (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--reports-dir", default=None, help=f"where the dated report folders go (default: {DEFAULT_REPORTS_DIR}/)")
    p.add_argument("--max-age-hours", type=float, default=DEFAULT_MAX_AGE_HOURS,
                   help=f"fail when the newest delivery file is older than this (default {DEFAULT_MAX_AGE_HOURS:g}; 0: no check)")
    p.add_argument("--skip-build", action="store_true",
                   help="keep the warehouse in place (sync and reports only, e.g. after fixing a sync setting)")
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild the warehouse from every delivery file (default: merge only the new ones)")
    p.set_defaults(func=_cmd_nightly)


# --- orbfin sync ... (SPEC §5; logic in orb_finance/sync) ---------------------------------------------

def _cmd_sync_run(args: argparse.Namespace) -> int:
    from . import sync

    result = sync.run(args.config, args.duckdb_path, console=err_console)
    console.print(sync.summary_table(result))
    for record in result.failures:
        err_console.print(f"failed: record {record.record_id} {record.object_type} {record.orb_id}: {record.error}",
                          markup=False, highlight=False, soft_wrap=True)
    if result.skips:
        console.print(f"{len(result.skips)} object(s) skipped; reasons: orbfin sync records --skipped")
    if result.aborted:
        raise OrbFinanceError(f"sync stopped: {result.aborted} (records in flight stay pending; run again)")
    if result.failures:
        err_console.print(f"{len(result.failures)} record(s) failed; fix the cause, then orbfin sync retry RECORD_ID")
        return 1
    return 0


def _cmd_sync_records(args: argparse.Namespace) -> int:
    from . import sync
    from .sync import records as sync_records

    if args.skipped:
        for otype, orb_id, reason in sync.skipped(args.config):
            console.print(f"{otype} {orb_id}: {reason}", markup=False, highlight=False, soft_wrap=True)
        return 0
    rows, secrets = sync.list_records(args.config, status=args.status, object_type_name=args.object_type,
                                      orb_id=args.orb_id, limit=args.limit)
    if args.csv:
        n = sync_records.write_csv(rows, paths.resolve(args.csv), secrets)
        console.print(f"{n} record(s) written to {paths.resolve(args.csv)}")
    else:
        console.print(sync_records.table(rows, secrets, title=f"{len(rows)} sync record(s), newest first"))
    return 0


def _cmd_sync_retry(args: argparse.Namespace) -> int:
    from . import sync

    marked = sync.retry(args.record_ids, args.all_failed, args.config)
    console.print(f"{len(marked)} record(s) marked retried; the next `orbfin sync run` sends them again"
                  + (": " + ", ".join(str(r.record_id) for r in marked) if marked else ""))
    return 0


def _cmd_sync_resync(args: argparse.Namespace) -> int:
    from . import sync

    result = sync.resync(args.object_type, args.orb_id, args.config, args.duckdb_path, console=err_console)
    console.print(sync.summary_table(result))
    for record in result.failures:
        err_console.print(f"failed: record {record.record_id} {record.object_type} {record.orb_id}: {record.error}",
                          markup=False, highlight=False, soft_wrap=True)
    if result.aborted:
        raise OrbFinanceError(f"resync stopped: {result.aborted}")
    return 1 if result.failures else 0


def _cmd_sync_map_customer(args: argparse.Namespace) -> int:
    from . import sync

    record = sync.map_customer(args.orb_customer_id, args.provider_customer_id, args.config)
    console.print(f"customer {record.orb_id} mapped to {record.provider} customer {record.provider_id} "
                  f"(record {record.record_id})", markup=False, highlight=False)
    return 0


def _cmd_sync_tryton_server(args: argparse.Namespace) -> int:
    from .sync.providers import tryton_server

    return tryton_server.cli(args, console=console)


def _add_sync_parser(sub) -> None:
    sync_parser = sub.add_parser("sync", help="accounting sync: push invoices, customers, credit memos and payments")
    sync_sub = sync_parser.add_subparsers(dest="sync_command", required=True)

    def common(p: argparse.ArgumentParser, warehouse: bool = True) -> None:
        p.add_argument("--config", default=None, help="settings file (default: accounting_sync.yml in the project root)")
        if warehouse:
            p.add_argument("--duckdb-path", default=None,
                           help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")

    p = sync_sub.add_parser("run", help="one sync pass; prints counts by object type and status")
    common(p)
    p.set_defaults(func=_cmd_sync_run)

    p = sync_sub.add_parser("records", help="the record view: every attempt, newest first")
    common(p)
    p.add_argument("--status", default=None, help="synced, resynced, failed, retried or pending")
    p.add_argument("--object-type", default=None, help="customer, invoice, credit_memo or payment")
    p.add_argument("--orb-id", default=None, help="only the attempts for this Orb id")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--csv", default=None, metavar="FILE", help="export the filtered records as CSV")
    p.add_argument("--skipped", action="store_true", help="list what the last run skipped, and why")
    p.set_defaults(func=_cmd_sync_records)

    p = sync_sub.add_parser("retry", help="mark failed records retried: the next run sends them again")
    common(p)
    p.add_argument("record_ids", nargs="*", type=int, metavar="RECORD_ID")
    p.add_argument("--all-failed", action="store_true", help="every failed record")
    p.set_defaults(func=_cmd_sync_retry)

    p = sync_sub.add_parser("resync", help="send one synced object again (an invoice: with its payments and credit memos)")
    common(p)
    p.add_argument("object_type", metavar="OBJECT_TYPE", help="customer, invoice, credit_memo or payment")
    p.add_argument("orb_id", metavar="ORB_ID")
    p.set_defaults(func=_cmd_sync_resync)

    p = sync_sub.add_parser("map-customer", help="map an Orb customer to an existing provider customer")
    common(p)
    p.add_argument("orb_customer_id", metavar="ORB_CUSTOMER_ID")
    p.add_argument("provider_customer_id", metavar="PROVIDER_CUSTOMER_ID")
    p.set_defaults(func=_cmd_sync_map_customer)

    p = sync_sub.add_parser("tryton-server", help="create and run a local Tryton ERP for the tryton provider")
    p.add_argument("--dir", default="warehouse/tryton", help="where the database and config live")
    p.add_argument("--database", default="orb")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--years", default=None, help="fiscal years to create, e.g. 2025-2027 (default: last, this and next year)")
    p.add_argument("--init-only", action="store_true", help="create the database, do not start the server")
    p.set_defaults(func=_cmd_sync_tryton_server)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orbfin", description="orb-finance: the finance warehouse (dbt + DuckDB) and accounting sync for Orb exports.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate-sample", help="write a realistic, deterministic sample Orb export")
    p.add_argument("--out", required=True, help="directory to write (one sub-directory per resource)")
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    p.add_argument("--end-date", default=None, help="first day after the exported history (default 2026-11-01)")
    p.add_argument("--deliveries", choices=["bulk", "daily"], default="bulk",
                   help="bulk: one delivery plus one re-delivery per resource (default); daily: one file per "
                        "resource per day, as Orb delivers")
    p.add_argument("--hold-back-days", type=int, default=0, metavar="N",
                   help="with --deliveries daily: keep the last N nights aside, for --append-day")
    p.add_argument("--append-day", action="store_true",
                   help="deliver the next held-back night into the daily export in --out (nothing else is needed)")
    p.set_defaults(func=_cmd_generate_sample)

    p = sub.add_parser("build", help="dbt build the warehouse from an export directory")
    p.add_argument("--export-dir", default=None, help="the Orb export (default: $ORB_EXPORT_PATH)")
    p.add_argument("--duckdb-path", default=None, help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--as-of", default=None, help="AR aging as-of date, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--select", nargs="+", default=None, help="dbt selection")
    p.add_argument("--target", choices=["duckdb", "spark"], default="duckdb",
                   help="dbt target: the DuckDB file, or Spark (needs the spark extra and Java 17)")
    p.add_argument("--spark-warehouse", default=None, help="with --target spark: where Spark writes its tables")
    p.add_argument("--full-refresh", action="store_true",
                   help="stage every delivery file again (default on DuckDB: merge only the files not yet processed)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("demo", help="generate a sample export, build the warehouse, print headline numbers")
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("docs", help="dbt docs generate (a self-contained static_index.html)")
    p.add_argument("--export-dir", default=None)
    p.add_argument("--duckdb-path", default=None)
    p.set_defaults(func=_cmd_docs)

    _add_sync_parser(sub)
    _add_nightly_parser(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OrbFinanceError as exc:
        err_console.print(f"error: {exc}", style="bold red", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
