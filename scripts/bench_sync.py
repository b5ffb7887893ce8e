"""Accounting-sync benchmark: records per second into Beancount, a real Tryton ERP and the local QuickBooks and
NetSuite sandboxes.

    .venv/bin/python scripts/bench_sync.py        # Beancount 2000 x 12, Tryton 50 x 6, QuickBooks 100 x 6, NetSuite 200 x 6
    .venv/bin/python scripts/bench_sync.py --skip-tryton
    .venv/bin/python scripts/bench_sync.py --beancount-customers 200 --tryton-customers 10
    .venv/bin/python scripts/bench_sync.py --skip-beancount --skip-tryton --quickbooks-customers 100
    .venv/bin/python scripts/bench_sync.py --skip-beancount --skip-tryton --netsuite-customers 100

Each provider gets a generated sample export (orbfin generate-sample), a real dbt build of the sync marts,
and a fresh state store and ledger / database. Beancount: one full pass (timed with and without the
bean-check the provider runs at the end), then a second pass that has nothing to send. Tryton: the same
export synced twice into fresh copies of one template database, batched (many records per create and
post call) and one record per call, for the speed-up. QuickBooks: the sandbox (orbfin sync sandbox quickbooks) on
127.0.0.1 with Intuit's limits (10 requests/s, 500/min, 40 batches/min; the provider keeps under them), synced with
batches of 30 and with one request per object. NetSuite: the sandbox runs in its own process
(`orbfin sync sandbox netsuite`, as a user starts it); one pass with synchronous writes and one with asynchronous
jobs (waited for in the run), each into a fresh sandbox, 4 requests in flight against its concurrency limit of 5,
then the same with 50 ms added to every answer (a network round trip) at 1 and 4 requests in flight. Records per
second = sync records written / wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orb_finance import warehouse  # noqa: E402
from orb_finance.exports.generate import generate_sample  # noqa: E402
from orb_finance.sync import engine, settings as sync_settings  # noqa: E402
from orb_finance.sync.providers import tryton as tryton_provider  # noqa: E402
from orb_finance.sync.providers import tryton_server  # noqa: E402

SELECT = ["path:seeds", "path:models/staging", "+path:models/marts/accounting_sync"]
console = Console()


def build(work: Path, name: str, customers: int, months: int, seed: int) -> Path:
    export, db = work / f"export_{name}", work / f"{name}.duckdb"
    t = time.monotonic()
    generate_sample(export, customers=customers, months=months, seed=seed, console=Console(quiet=True))
    console.print(f"[{name}] generated {customers} customers x {months} months in {time.monotonic() - t:.1f}s")
    t = time.monotonic()
    result = warehouse.build(export, db, select=SELECT,
                             target_path=work / f"target_{name}", show_progress=False)
    if not result.success:
        raise SystemExit(f"dbt build failed: {result.reason()}")
    console.print(f"[{name}] dbt build of the sync marts in {time.monotonic() - t:.1f}s")
    return db


def sync_once(raw: dict, db: Path) -> tuple[engine.RunResult, float]:
    s = sync_settings.from_mapping(raw)
    t = time.monotonic()
    result = engine.SyncEngine(s, db, show_progress=False).run()
    return result, time.monotonic() - t


def records(result: engine.RunResult) -> int:
    return result.records_written


def bench_beancount(work: Path, customers: int, months: int, rows: list, repeats: int = 3) -> None:
    """The first sync of the whole sample into an empty ledger, `repeats` times (fresh ledger and state each
    time; the median is reported: this 2-core machine's timings vary by 1.5x from run to run), then the
    whole-ledger check a run ends with, and a second run that finds nothing to send."""
    import statistics

    from orb_finance.sync.providers.beancount import BeancountProvider

    db = build(work, "beancount", customers, months, seed=7)
    syncs, checks = [], []
    for i in range(repeats):
        ledger, state = work / f"ledger_{i}" / "orb.beancount", work / f"beancount_state_{i}.sqlite"
        raw = {"provider": "beancount", "state_path": str(state),
               "beancount": {"ledger_path": str(ledger), "check_after_run": False}}
        result, seconds = sync_once(raw, db)
        assert result.ok, result.failures[:3]
        n = records(result)
        provider = BeancountProvider({"ledger_path": str(ledger), "check_after_run": False})
        t = time.monotonic()          # the check alone, as the end of a run does it (the provider is open by then)
        provider.check()
        syncs.append(seconds)
        checks.append(time.monotonic() - t)
        console.print(f"[beancount] run {i + 1}/{repeats}: {n:,} records in {seconds:.1f}s, check {checks[-1]:.1f}s")
    seconds, check = statistics.median(syncs), statistics.median(checks)
    rows.append(("beancount", f"{customers} x {months}, first run (median of {repeats})", n, seconds, n / seconds))
    rows.append(("beancount", "  + bean-check of the whole ledger", n, seconds + check, n / (seconds + check)))
    raw["beancount"]["check_after_run"] = True
    again, seconds2 = sync_once(raw, db)
    assert again.sent == 0
    rows.append(("beancount", "second run (nothing to send, incl. check)", records(again), seconds2, None))
    console.print(f"[beancount] ledger {ledger.stat().st_size / 1e6:.1f} MB, "
                  f"{sum(1 for _ in open(ledger, encoding='utf-8'))} lines; bean-check median {check:.1f}s")


def data_years(db: Path) -> list[int]:
    import duckdb
    con = duckdb.connect(str(db), read_only=True)
    try:
        lo, hi = con.execute("select min(d), max(d) from (select invoice_date d from marts.sync_invoices union all "
                             "select credit_note_date from marts.sync_credit_memos union all "
                             "select payment_date from marts.sync_payments)").fetchall()[0]
    finally:
        con.close()
    return list(range(lo.year, hi.year + 1))


def bench_tryton(work: Path, customers: int, months: int, rows: list) -> None:
    db = build(work, "tryton", customers, months, seed=7)
    years = data_years(db)
    password = "bench-admin-pw"
    os.environ["ORBFIN_BENCH_TRYTON_PASSWORD"] = password
    t = time.monotonic()
    template = tryton_server.template(work / "tryton_cache", years, password=password)
    console.print(f"[tryton] template database (fiscal years {years[0]}-{years[-1]}) in {time.monotonic() - t:.1f}s")
    calls: dict[str, int] = {}
    spent: dict[str, float] = {}
    original = tryton_provider.JsonRpc.call

    def counting(self, method, *params):
        calls[method] = calls.get(method, 0) + 1
        t = time.monotonic()
        try:
            return original(self, method, *params)
        finally:
            spent[method] = spent.get(method, 0.0) + time.monotonic() - t
    tryton_provider.JsonRpc.call = counting
    documents: dict[str, float] = {}
    speeds = {}
    for mode, batch_size in (("batched", 50), ("one record per call", 1)):
        directory = work / f"tryton_{batch_size}"
        tryton_server.copy_database(template, directory, "orb")
        calls.clear()
        spent.clear()
        with tryton_server.TrytonServer(directory, "orb") as server:
            raw = {"provider": "tryton", "state_path": str(work / f"tryton_state_{batch_size}.sqlite"),
                   "tryton": {**server.provider_settings("ORBFIN_BENCH_TRYTON_PASSWORD"), "batch_size": batch_size}}
            result, seconds = sync_once(raw, db)
        n = records(result)
        speeds[mode] = n / seconds
        rows.append(("tryton", f"{customers} x {months}, {mode}", n, seconds, n / seconds))
        console.print(f"[tryton] {mode}: {dict(sorted(result.by_status().items()))}; "
                      f"{sum(calls.values())} RPC calls ({calls.get('model.account.invoice.post', 0)} post, "
                      f"{calls.get('model.account.invoice.create', 0)} invoice create)")
        documents[mode] = sum(spent.get(f"model.account.invoice.{m}", 0.0) for m in ("create", "post"))
        pay = sum(v for k, v in spent.items() if k.startswith("wizard.account.invoice.pay."))
        console.print(f"[tryton] {mode}: {documents[mode]:.1f}s in invoice/credit-note create+post calls, "
                      f"{pay:.1f}s in the pay wizard ({calls.get('wizard.account.invoice.pay.create', 0)} payments)")
        if result.failures:
            console.print(f"[tryton] first failure: {result.failures[0].orb_id}: {result.failures[0].error}")
    tryton_provider.JsonRpc.call = original
    console.print(f"[tryton] batching speed-up: x{speeds['batched'] / speeds['one record per call']:.2f} overall, "
                  f"x{documents['one record per call'] / documents['batched']:.2f} on creating and posting invoices "
                  "and credit notes")


def bench_quickbooks(work: Path, customers: int, months: int, rows: list) -> None:
    """The same export into fresh sandboxes, batched and one request per object, at Intuit's limits."""
    import duckdb

    from orb_finance.sync.sandbox.quickbooks import QuickBooksSandbox

    db = build(work, "quickbooks", customers, months, seed=7)
    con = duckdb.connect(str(db), read_only=True)
    items = [r[0] for r in con.execute("select item_id from marts.sync_items order by item_id").fetchall()]
    con.close()
    speeds = {}
    for mode, batch in (("batches of 30", True), ("one request per object", False)):
        sandbox = QuickBooksSandbox().start()
        try:
            os.environ.update(sandbox.credentials())
            raw = sandbox.settings()
            raw["state_path"] = str(work / f"quickbooks_state_{batch}.sqlite")
            raw["quickbooks"]["item_map"] = {i: str(100 + n % 9) for n, i in enumerate(items)}
            raw["quickbooks"]["batch"] = batch
            result, seconds = sync_once(raw, db)
            requests = sandbox.token_requests
        finally:
            sandbox.stop()
        n = records(result)
        speeds[mode] = n / seconds
        rows.append(("quickbooks", f"{customers} x {months}, {mode}", n, seconds, n / seconds))
        console.print(f"[quickbooks] {mode}: {dict(sorted(result.by_status().items()))}; {requests} token refresh(es)"
                      + (f"; first failure: {result.failures[0].orb_id}: {result.failures[0].error}"
                         if result.failures else ""))
    console.print(f"[quickbooks] batching speed-up: x{speeds['batches of 30'] / speeds['one request per object']:.2f}")


class SandboxProcess:
    """`orbfin sync sandbox netsuite` in its own process, with --settings-out; its credentials put in os.environ."""

    def __init__(self, work: Path, name: str):
        import socket
        import subprocess
        import yaml

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.settings_file = work / f"{name}.yml"
        env_file = Path(str(self.settings_file) + ".env")
        self.proc = subprocess.Popen([sys.executable, "-m", "orb_finance.cli", "sync", "sandbox", "netsuite", "--port",
                                      str(port), "--settings-out", str(self.settings_file)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not env_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the NetSuite sandbox did not start")
            time.sleep(0.1)
        time.sleep(0.2)
        for line in env_file.read_text().split("\nexport "):
            name_, _, value = line.removeprefix("export ").partition("=")
            os.environ[name_] = value.strip().strip("'")
        self.settings = yaml.safe_load(self.settings_file.read_text())
        self.url = self.settings["netsuite"]["base_url"]

    def configure(self, **options) -> None:
        import httpx
        httpx.post(f"{self.url}/_sandbox/netsuite", json=options).raise_for_status()

    def stop(self) -> None:
        import signal
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def bench_netsuite(work: Path, customers: int, months: int, rows: list) -> None:
    db = build(work, "netsuite", customers, months, seed=7)
    runs = [("synchronous writes, 4 in flight", {}, {}, True),
            ("asynchronous jobs (waited for), 4 in flight", {"async": True, "async_wait": 60}, {"async_delay": 0.2}, False),
            ("synchronous, +50 ms per answer, 1 in flight", {"concurrency": 1}, {"latency": 0.05}, False),
            ("synchronous, +50 ms per answer, 4 in flight", {}, {"latency": 0.05}, False)]
    for n, (label, extra, sandbox_options, second_run) in enumerate(runs):
        sandbox = SandboxProcess(work, f"netsuite_{n}")
        try:
            if sandbox_options:
                sandbox.configure(**sandbox_options)
            raw = dict(sandbox.settings)
            raw["state_path"] = str(work / f"netsuite_state_{n}.sqlite")
            # Orb items without a netsuite connection go to the sandbox's default_item (in its settings)
            raw["netsuite"] = {**raw["netsuite"], "concurrency": 4, **extra}
            result, seconds = sync_once(raw, db)
            n_records = records(result)
            pending = sum(c.get("pending", 0) for c in result.by_status().values())
            console.print(f"[netsuite] {label}: {dict(sorted(result.by_status().items()))}"
                          + (f"; first failure {result.failures[0].orb_id}: {result.failures[0].error}"
                             if result.failures else ""))
            rows.append(("netsuite", f"{customers} x {months}, {label}" + (f" ({pending} pending)" if pending else ""),
                         n_records, seconds, n_records / seconds))
            if second_run:
                again, seconds2 = sync_once(raw, db)
                assert again.sent == 0
                rows.append(("netsuite", "second run (nothing to send)", records(again), seconds2, None))
        finally:
            sandbox.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beancount-customers", type=int, default=2000)
    parser.add_argument("--beancount-months", type=int, default=12)
    parser.add_argument("--tryton-customers", type=int, default=50)
    parser.add_argument("--tryton-months", type=int, default=6)
    parser.add_argument("--quickbooks-customers", type=int, default=100)
    parser.add_argument("--quickbooks-months", type=int, default=6)
    parser.add_argument("--netsuite-customers", type=int, default=200)
    parser.add_argument("--netsuite-months", type=int, default=6)
    parser.add_argument("--skip-beancount", action="store_true")
    parser.add_argument("--skip-tryton", action="store_true")
    parser.add_argument("--skip-quickbooks", action="store_true")
    parser.add_argument("--skip-netsuite", action="store_true")
    parser.add_argument("--work-dir", default=None, help="keep the exports, warehouses and ledgers here")
    args = parser.parse_args(argv)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="orbfin_bench_sync_"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list = []
    try:
        if not args.skip_beancount:
            bench_beancount(work, args.beancount_customers, args.beancount_months, rows)
        if not args.skip_tryton:
            bench_tryton(work, args.tryton_customers, args.tryton_months, rows)
        if not args.skip_quickbooks:
            bench_quickbooks(work, args.quickbooks_customers, args.quickbooks_months, rows)
        if not args.skip_netsuite:
            bench_netsuite(work, args.netsuite_customers, args.netsuite_months, rows)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"orbfin sync benchmark ({dt.date.today()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    for col in ("provider", "run", "records", "seconds", "records/s"):
        table.add_column(col, justify="left" if col in ("provider", "run") else "right")
    for provider, run, n, seconds, rate in rows:
        table.add_row(provider, run, f"{n:,}", f"{seconds:.1f}", f"{rate:,.0f}" if rate else "-")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
