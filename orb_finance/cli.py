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
EXIT_SYNC_FAILURES = 4           # as `orbfin nightly`: records failed (in this run or an earlier one) and not retried


# --- argument types: every value is checked when the command line is parsed, before any work starts ---------

def iso_date(text: str) -> str:
    """YYYY-MM-DD (kept as text: dbt's as_of_date var)."""
    import datetime as dt
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-10-31") from None


def year_month(text: str) -> str:
    import datetime as dt
    try:
        return dt.date.fromisoformat(text.strip() + "-01").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-03") from None


def whole(minimum: int, maximum: int | None = None):
    """A whole number from `minimum` (to `maximum`)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: {bounds}")
        return value
    parse.__name__ = "whole number"
    return parse


def hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not value >= 0:                       # (also refuses nan)
        raise argparse.ArgumentTypeError(f"{text} hours: must be 0 (no check) or more")
    return value


def currency_code(text: str) -> str:
    import re
    code = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 4217 currency code such as USD")
    return code


PORT = whole(0, 65535)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS) and "default" not in text
                and action.option_strings and not isinstance(action, argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    parts = []
    for package in ("dbt-core", "dbt-duckdb", "duckdb", "beancount"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            continue
    return f"orbfin {__version__} ({', '.join(parts)})"


def _print_table(table, args: argparse.Namespace) -> None:
    from .tables import print_table

    print_table(console, table, wide=getattr(args, "wide", False))


def _cmd_generate_sample(args: argparse.Namespace) -> int:
    if args.append_day:
        from .exports.deliveries import append_day

        console.print(append_day(paths.resolve(args.out)).render())
        return 0
    from .exports.generate import generate_sample

    summary = generate_sample(
        out_dir=paths.resolve(args.out), customers=args.customers, months=args.months, seed=args.seed,
        fmt=args.format, end_date=args.end_date, console=err_console, layout=args.deliveries,
        hold_back_days=args.hold_back_days, orphan_credit_note_lines=args.orphan_credit_note_lines,
    )
    console.print(summary.render())
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from . import warehouse
    from .reporting_currency import reporting_vars

    dbt_vars = reporting_vars(args.reporting_currency, args.fx_rates)
    export = paths.export_dir(args.export_dir)
    if export is None:
        raise OrbFinanceError("No Orb export directory: pass --export-dir or set ORB_EXPORT_PATH.")
    if not export.is_dir():
        raise OrbFinanceError(f"the Orb export directory {export} does not exist (--export-dir, or ORB_EXPORT_PATH)")
    result = warehouse.build(export, args.duckdb_path, as_of=args.as_of, select=args.select, console=err_console,
                             target=args.target, spark_warehouse=args.spark_warehouse, dbt_vars=dbt_vars,
                             full_refresh=args.full_refresh, target_path=args.target_path)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts().items()))
    for line in result.warning_lines():
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not result.success:
        raise OrbFinanceError(f"dbt build failed after {result.elapsed:.1f}s ({counts}): {result.reason()}")
    where = result.duckdb_path if args.target == "duckdb" else f"Spark tables under {args.spark_warehouse or '$ORB_SPARK_WAREHOUSE'}"
    console.print(f"dbt build OK in {result.elapsed:.1f}s ({result.summary()}); warehouse: {where}",
                  markup=False, highlight=False, soft_wrap=True)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(customers=args.customers, months=args.months, seed=args.seed, console=console,
                    err_console=err_console, wide=args.wide)


def _cmd_docs(args: argparse.Namespace) -> int:
    from . import warehouse

    result, written = warehouse.generate_docs(paths.cli_path(args.out), export_dir=args.export_dir,
                                              duckdb_path=args.duckdb_path, target_path=args.target_path,
                                              console=err_console)
    if not result.success:
        raise OrbFinanceError(f"dbt docs generate failed: {result.reason()}")
    page = next((p for p in written if p.name == "static_index.html"), None)
    console.print(f"dbt docs: {page} (one self-contained page: open it in a browser; the landing page is the "
                  "project overview)", markup=False, highlight=False, soft_wrap=True)
    return 0


# --- orbfin nightly (SPEC §6; logic in orb_finance/nightly.py) -----------------------------------------

def _cmd_nightly(args: argparse.Namespace) -> int:
    from . import nightly

    result = nightly.run(args.export_dir, as_of=args.as_of, config=args.config, duckdb_path=args.duckdb_path,
                         reports_dir=args.reports_dir, max_age_hours=args.max_age_hours, skip_build=args.skip_build,
                         reporting_currency=args.reporting_currency, fx_rates=args.fx_rates,
                         full_refresh=args.full_refresh, target_path=args.target_path, console=err_console)
    _print_table(result.table(), args)
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
                       epilog=EXIT_CODES_HELP, formatter_class=HelpFormatter)
    p.add_argument("--export-dir", default=None, metavar="DIR", help="the Orb export (default: $ORB_EXPORT_PATH)")
    p.add_argument("--as-of", default=None, metavar="YYYY-MM-DD",
                   help="AR aging date and report folder name (default: today, UTC)")
    p.add_argument("--config", default=None, metavar="FILE", help="accounting sync settings (default: accounting_sync.yml "
                   "in the current directory, else in the project root, else the defaults: Beancount)")
    p.add_argument("--duckdb-path", default=None, metavar="FILE",
                   help=f"the live warehouse (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--reports-dir", default=None, metavar="DIR",
                   help=f"where the dated report folders go (default: {DEFAULT_REPORTS_DIR}/)")
    p.add_argument("--max-age-hours", type=hours, default=DEFAULT_MAX_AGE_HOURS, metavar="HOURS",
                   help=f"fail when the newest delivery file is older than this (default {DEFAULT_MAX_AGE_HOURS:g}; 0: no check)")
    p.add_argument("--skip-build", action="store_true",
                   help="keep the warehouse in place (sync and reports only, e.g. after fixing a sync setting)")
    _add_reporting_currency_arguments(p)
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild the warehouse from every delivery file (default: merge only the new ones)")
    p.add_argument("--target-path", default=None, metavar="DIR",
                   help=f"where dbt's target/ and logs/ go (default: ${paths.DBT_TARGET_ENV}, else target/nightly in the "
                        "project)")
    _add_wide(p)
    p.set_defaults(func=_cmd_nightly)


def _add_wide(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wide", action="store_true",
                   help="print tables at their full width, nothing cut (for a pager: ... --wide | less -S)")


def _add_reporting_currency_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reporting-currency", default=None, metavar="CODE", type=currency_code,
                   help="also build revenue, billings and a consolidated view in this currency, e.g. USD")
    p.add_argument("--fx-rates", default=None, metavar="FILE",
                   help="with --reporting-currency: CSV of rate_date,currency,rate (default: $ORB_FX_RATES_PATH)")


# --- orbfin sync ... (SPEC §5; logic in orb_finance/sync) ---------------------------------------------

def _cmd_sync_run(args: argparse.Namespace) -> int:
    from . import sync

    result = sync.run(args.config, args.duckdb_path, console=err_console)
    _print_table(sync.summary_table(result), args)
    for record in result.failures:
        err_console.print(f"failed: record {record.record_id} {record.object_type} {record.orb_id}: {record.error}",
                          markup=False, highlight=False, soft_wrap=True)
    if result.skips:
        console.print(f"{len(result.skips)} object(s) skipped; reasons: orbfin sync records --skipped")
    for note in result.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    if result.aborted:
        raise OrbFinanceError(f"sync stopped: {result.aborted} (records in flight stay pending; run again)")
    snap = sync.snapshot(args.config)
    outstanding = snap.failed if snap else []
    if outstanding:             # failures are never retried by themselves: every run says so, as the nightly does
        err_console.print(f"{len(outstanding)} object(s) failed to sync ({len(result.failures)} in this run); fix the "
                          "cause, then orbfin sync retry RECORD_ID (orbfin sync records --status failed)",
                          markup=False, highlight=False, soft_wrap=True)
        return EXIT_SYNC_FAILURES
    return 0


def _cmd_sync_records(args: argparse.Namespace) -> int:
    from . import sync
    from .sync import records as sync_records

    if args.skipped:
        skips = sync.skipped(args.config)
        for otype, orb_id, reason in skips:
            console.print(f"{otype} {orb_id}: {reason}", markup=False, highlight=False, soft_wrap=True)
        if not skips:
            console.print("nothing skipped by the last run")
        return 0
    if args.changed:
        rows = sync.changed(args.config)
        _print_table(sync_records.table(rows, title=f"{len(rows)} object(s) changed in Orb since they were synced "
                                                    "(not re-sent: orbfin sync resync OBJECT_TYPE ORB_ID)",
                                        wide=args.wide, width=console.width), args)
        return 0
    rows = sync.list_records(args.config, status=args.status, object_type_name=args.object_type,
                             orb_id=args.orb_id, limit=args.limit)
    if args.csv:
        target = paths.cli_path(args.csv)
        n = sync_records.write_csv(rows, target)
        console.print(f"{n} record(s) written to {target}")
    else:
        _print_table(sync_records.table(rows, title=f"{len(rows)} sync record(s), newest first", wide=args.wide,
                                        width=console.width), args)
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
    _print_table(sync.summary_table(result), args)
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


def _cmd_sync_reconcile(args: argparse.Namespace) -> int:
    from .nightly import parse_as_of
    from .sync import reconcile, settings as sync_settings

    as_of = parse_as_of(args.as_of) if args.as_of else None
    report = reconcile.reconcile(sync_settings.load(args.config), args.duckdb_path, as_of=as_of,
                                 by_customer=args.by_customer)
    _print_table(reconcile.table(report), args)
    if args.csv:
        target = paths.cli_path(args.csv)
        n = reconcile.write_csv(report, target)
        console.print(f"{n} line(s) written to {target}", markup=False, highlight=False)
    out = console if report.ok else err_console
    out.print(report.summary(), markup=False, highlight=False, soft_wrap=True)
    return report.exit_code


def _cmd_journal_export(args: argparse.Namespace) -> int:
    import datetime as dt

    from .sync import recognition
    from .sync.marts import load_marts

    month = dt.date.fromisoformat(args.month + "-01")          # checked by the parser (year_month)
    data = load_marts(args.duckdb_path)
    if not data.revenue_monthly and not data.rollforward:
        raise OrbFinanceError("the warehouse has no revenue_monthly / deferred_revenue_rollforward: build every model")
    journals = recognition.month_journals(month, data.revenue_monthly, data.rollforward, data.minor_units)
    if args.csv:
        n = recognition.write_export(journals, args.csv)
        console.print(f"{n} journal line(s) for {args.month} written to {args.csv}", markup=False, highlight=False)
        return 0
    from .tables import compact_table

    columns = recognition.EXPORT_COLUMNS[:6 if args.wide else 5]          # the memo with --wide
    table = compact_table(title=f"Revenue recognized in {month:%B %Y} (journal lines for any ERP; --csv FILE writes "
                                "them)")
    for col in columns:
        table.add_column(col, justify="right" if col in ("debit", "credit") else "left", no_wrap=col != "memo")
    for row in recognition.export_rows(journals):
        table.add_row(*[row[c] for c in columns])
    _print_table(table, args)
    return 0


def _cmd_sync_sandbox(args: argparse.Namespace) -> int:
    from .sync import sandbox

    return sandbox.cli(args, console)


def _add_sync_parser(sub) -> None:
    sync_parser = sub.add_parser("sync", help="accounting sync: push invoices, customers, credit memos and payments",
                                 formatter_class=HelpFormatter)
    sync_sub = sync_parser.add_subparsers(dest="sync_command", required=True, metavar="COMMAND")

    def parser(name: str, **kw) -> argparse.ArgumentParser:
        return sync_sub.add_parser(name, formatter_class=HelpFormatter, **kw)

    def common(p: argparse.ArgumentParser, warehouse: bool = True) -> None:
        p.add_argument("--config", default=None, metavar="FILE", help="settings file (default: accounting_sync.yml in "
                       "the current directory, else in the project root, else the defaults: Beancount)")
        if warehouse:
            p.add_argument("--duckdb-path", default=None, metavar="FILE",
                           help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")

    p = parser("run", help="one sync pass; prints counts by object type and status",
               description="One sync pass (SPEC §5): sends what is new or changed, never twice. Exit 4 while failed "
                           "records (of this run or an earlier one) wait for orbfin sync retry.")
    common(p)
    _add_wide(p)
    p.set_defaults(func=_cmd_sync_run)

    p = parser("records", help="the record view: every attempt, newest first")
    common(p)
    p.add_argument("--status", default=None, choices=["synced", "resynced", "failed", "retried", "pending"],
                   help="only records with this status (default: every status)")
    p.add_argument("--object-type", default=None, metavar="TYPE",
                   help="only this object type: customer, invoice, credit_memo, payment, balance_transaction or "
                        "revenue_journal (default: every type)")
    p.add_argument("--orb-id", default=None, help="only the attempts for this Orb id (default: every object)")
    p.add_argument("--limit", type=whole(1), default=None, metavar="N", help="at most N records (default: all)")
    p.add_argument("--csv", default=None, metavar="FILE", help="export the filtered records as CSV (with the action "
                   "of each attempt: create, resync, void, delete, map)")
    p.add_argument("--skipped", action="store_true", help="list what the last run skipped, and why")
    _add_wide(p)
    p.add_argument("--changed", action="store_true",
                   help="list synced objects whose Orb data changed since they were sent (not re-sent by themselves)")
    p.set_defaults(func=_cmd_sync_records)

    p = parser("retry", help="mark failed records retried: the next run sends them again")
    common(p)
    p.add_argument("record_ids", nargs="*", type=whole(1), metavar="RECORD_ID",
                   help="the failed records to retry (orbfin sync records --status failed)")
    p.add_argument("--all-failed", action="store_true", help="every failed record")
    p.set_defaults(func=_cmd_sync_retry)

    p = parser("resync", help="send one synced object again (an invoice: with its payments and credit memos)")
    common(p)
    p.add_argument("object_type", metavar="OBJECT_TYPE", help="customer, invoice, credit_memo, payment or "
                   "balance_transaction")
    p.add_argument("orb_id", metavar="ORB_ID", help="the object's Orb id")
    _add_wide(p)
    p.set_defaults(func=_cmd_sync_resync)

    p = parser("map-customer", help="map an Orb customer to an existing provider customer")
    common(p)
    p.add_argument("orb_customer_id", metavar="ORB_CUSTOMER_ID", help="the Orb customer id (cus_...)")
    p.add_argument("provider_customer_id", metavar="PROVIDER_CUSTOMER_ID",
                   help="the customer in the provider (Beancount: the account component, e.g. AcmeLegacy)")
    p.set_defaults(func=_cmd_sync_map_customer)

    p = parser("reconcile", help="read the books back and tie them to the warehouse (exit 6: they differ)",
               description="Sets the provider's balances beside the warehouse's (SPEC §5.1): receivables vs "
                           "ar_aging, customer balances vs customer_balances, cash, revenue and tax vs the "
                           "documents the sync books. Exit 0 when every line ties, 6 when one differs.")
    common(p)
    p.add_argument("--as-of", default=None, type=iso_date, metavar="YYYY-MM-DD",
                   help="the date to tie on (default: the warehouse's as-of date; it must match it)")
    p.add_argument("--by-customer", action="store_true", help="a line per customer too (differing ones are always shown)")
    p.add_argument("--csv", default=None, metavar="FILE", help="write every line as CSV")
    _add_wide(p)
    p.set_defaults(func=_cmd_sync_reconcile)

    p = parser("tryton-server", help="create and run a local Tryton ERP for the tryton provider")
    p.add_argument("--dir", default=None, help="where the database and config live (default: warehouse/tryton in the project)")
    p.add_argument("--database", default="orb", help="the Tryton database name")
    p.add_argument("--port", type=PORT, default=8000, help="port on 127.0.0.1")
    p.add_argument("--years", default=None, help="fiscal years to create, e.g. 2025-2027 (default: last, this and next year)")
    p.add_argument("--init-only", action="store_true", help="create the database, do not start the server")
    p.set_defaults(func=_cmd_sync_tryton_server)

    from .sync.sandbox import VENDORS
    p = parser("sandbox", help="run a local QuickBooks or NetSuite API to try the sync against",
               description="A local server that speaks the vendor's documented REST shapes and errors "
                           "(state kept under --dir). With --settings-out it writes a settings file that "
                           "connects to it and FILE.env with its test credentials.")
    p.add_argument("vendor", choices=VENDORS, help="the API to stand in for")
    p.add_argument("--port", type=PORT, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--dir", default=None, help="where the sandbox keeps its state (default: in memory)")
    p.add_argument("--request-log", default=None, metavar="FILE", help="JSON Lines of every exchange (secrets redacted; "
                   "default: none)")
    p.add_argument("--settings-out", default=None, metavar="FILE", help="write settings that connect the sync here "
                   "(default: none)")
    p.set_defaults(func=_cmd_sync_sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orbfin", formatter_class=HelpFormatter,
        description="orb-finance: the finance warehouse (dbt + DuckDB) and accounting sync for Orb exports.\n"
                    "Start with `make demo` (or orbfin demo): a sample export, the warehouse, the books and the reports.")
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the versions of orbfin, dbt, DuckDB and Beancount, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=HelpFormatter, **kw)

    from .exports.generate import MAX_MONTHS, MIN_MONTHS

    p = command("generate-sample", help="write a realistic, deterministic sample Orb export",
                description="A sample Orb export: every resource of the export contract plus processor_payments, "
                            "consistent with each other, the same for the same arguments; and fx_rates.csv beside "
                            "it (EUR and JPY in USD).")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write (one sub-directory per resource)")
    p.add_argument("--customers", type=whole(1), default=200, metavar="N", help="how many customers")
    p.add_argument("--months", type=whole(MIN_MONTHS, MAX_MONTHS), default=12, metavar="N",
                   help=f"months of history before --end-date ({MIN_MONTHS} to {MAX_MONTHS})")
    p.add_argument("--seed", type=int, default=7, metavar="N", help="the random seed: the same seed, the same export")
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet", help="delivery file format")
    p.add_argument("--end-date", default=None, type=iso_date, metavar="YYYY-MM-DD",
                   help="first day after the exported history, a first of the month (default 2026-11-01)")
    p.add_argument("--deliveries", choices=["bulk", "daily"], default="bulk",
                   help="bulk: one delivery plus one re-delivery per resource (default); daily: one file per "
                        "resource per day, as Orb delivers")
    p.add_argument("--hold-back-days", type=whole(0), default=0, metavar="N",
                   help="with --deliveries daily: keep the last N nights aside, for --append-day")
    p.add_argument("--append-day", action="store_true",
                   help="deliver the next held-back night into the daily export in --out (nothing else is needed)")
    p.add_argument("--orphan-credit-note-lines", action="store_true",
                   help="also write two credit-note lines naming an invoice line that is not in the export (dbt's "
                        "relationships test then warns), to try that warning; off by default")
    p.set_defaults(func=_cmd_generate_sample)

    p = command("build", help="dbt build the warehouse from an export directory",
                description="dbt build (every model and test) of the warehouse from an Orb export. On DuckDB a build "
                            "into an existing warehouse merges only the delivery files it has not read yet.")
    p.add_argument("--export-dir", default=None, metavar="DIR", help="the Orb export (default: $ORB_EXPORT_PATH)")
    p.add_argument("--duckdb-path", default=None, metavar="FILE",
                   help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--as-of", default=None, type=iso_date, metavar="YYYY-MM-DD",
                   help="AR aging as-of date (default: today, UTC)")
    p.add_argument("--select", nargs="+", default=None, metavar="SELECTOR",
                   help="dbt selection, e.g. staging or +billings_monthly (default: everything)")
    p.add_argument("--target", choices=["duckdb", "spark"], default="duckdb",
                   help="dbt target: the DuckDB file, or Spark (needs the spark extra and Java 17)")
    p.add_argument("--spark-warehouse", default=None, metavar="DIR",
                   help="with --target spark: where Spark writes its tables (default: $ORB_SPARK_WAREHOUSE)")
    _add_reporting_currency_arguments(p)
    p.add_argument("--full-refresh", action="store_true",
                   help="stage every delivery file again (default on DuckDB: merge only the files not yet processed)")
    p.add_argument("--target-path", default=None, metavar="DIR",
                   help=f"where dbt's target/ and logs/ go (default: ${paths.DBT_TARGET_ENV}, else target/ and logs/ "
                        "in the project)")
    p.set_defaults(func=_cmd_build)

    p = command("demo", help="the whole product on a sample: export, warehouse, books, reports",
                description="Generates a sample Orb export (build/sample-export), builds the warehouse "
                            "(warehouse/orb_finance.duckdb), syncs a Beancount ledger and writes the reports, as the "
                            "nightly does (build/demo/), then prints the headline numbers and where to look.")
    p.add_argument("--customers", type=whole(1), default=200, metavar="N", help="customers in the sample")
    p.add_argument("--months", type=whole(MIN_MONTHS, MAX_MONTHS), default=12, metavar="N",
                   help=f"months of history ({MIN_MONTHS} to {MAX_MONTHS})")
    p.add_argument("--seed", type=int, default=7, metavar="N", help="the sample's random seed")
    _add_wide(p)
    p.set_defaults(func=_cmd_demo)

    p = command("docs", help="dbt docs: one self-contained page (works while the warehouse is in use)",
                description="dbt docs generate --static against a copy of the warehouse (the warehouse itself is only "
                            "read, so a notebook or the nightly can hold it), written to --out.")
    p.add_argument("--out", default="build/docs", metavar="DIR",
                   help="where static_index.html (and index.html, manifest.json, catalog.json) go")
    p.add_argument("--export-dir", default=None, metavar="DIR",
                   help="the Orb export (default: $ORB_EXPORT_PATH, else the one the warehouse was built from)")
    p.add_argument("--duckdb-path", default=None, metavar="FILE",
                   help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--target-path", default=None, metavar="DIR",
                   help=f"where dbt's work files go (default: ${paths.DBT_TARGET_ENV}, else target/ in the project)")
    p.set_defaults(func=_cmd_docs)

    _add_sync_parser(sub)
    _add_nightly_parser(sub)

    journal = command("journal", help="revenue recognition journals from the warehouse (SPEC §5.2)")
    journal_sub = journal.add_subparsers(dest="journal_command", required=True, metavar="COMMAND")
    p = journal_sub.add_parser("export", help="a month's journals as balanced debit/credit lines for any ERP",
                               formatter_class=HelpFormatter,
                               description="The journal that moves a month's recognized revenue (revenue_monthly: usage, "
                                           "prepaid credit consumption, breakage, credit notes) from deferred revenue to "
                                           "revenue, per currency, with the unbilled-revenue reclassification; amounts "
                                           "rounded to the currency's minor unit on running totals.")
    p.add_argument("--month", required=True, type=year_month, metavar="YYYY-MM", help="the month to journal")
    p.add_argument("--duckdb-path", default=None, metavar="FILE",
                   help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--csv", default=None, metavar="FILE", help="write the lines as CSV (date, account, currency, debit, "
                   "credit, memo, orb_month, orb_kind, orb_journal)")
    _add_wide(p)
    p.set_defaults(func=_cmd_journal_export)

    return parser


# Options that name a file or folder: given on the command line, a relative path is relative to the current
# directory (SPEC §5); their defaults (warehouse/..., reports/...) stay relative to the project root.
PATH_OPTIONS = ("export_dir", "duckdb_path", "reports_dir", "config", "out", "csv", "spark_warehouse", "request_log",
                "settings_out", "dir", "target_path")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            setattr(args, name, str(paths.cli_path(value)))
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
