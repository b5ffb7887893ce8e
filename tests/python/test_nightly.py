"""`orbfin nightly` end to end (SPEC §6): real dbt builds on a generated export (20 customers x 4 months), a
real Beancount sync, real report files, and real second processes reading the warehouse while it is rebuilt.

The module builds twice (a first night, and the same night again) plus one failing build; the other cases
reuse the warehouse in place (`skip_build`) or stop before dbt.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import openpyxl
import pytest
from rich.console import Console

from orb_finance import nightly, warehouse
from orb_finance.errors import OrbFinanceError
from orb_finance.reports.marts import finance_mart_names
from orb_finance.validate import ExportError, validate_export

AS_OF = "2026-10-31"


# --- fixtures ---------------------------------------------------------------------------------------------

class Site:
    """One installation: a warehouse directory, sync settings and state, a dbt target dir."""

    def __init__(self, root: Path, export: Path):
        self.root, self.export = root, export
        self.live = root / "warehouse" / "orb_finance.duckdb"
        self.target = root / "target"
        self.config = root / "accounting_sync.yml"
        self.state = root / "sync" / "state.sqlite"
        self.ledger = root / "sync" / "orb.beancount"
        self.config.write_text(f"provider: beancount\nstate_path: {self.state}\nbeancount:\n  ledger_path: {self.ledger}\n")

    def run(self, reports: Path, export: Path | None = None, **kw) -> tuple[nightly.NightlyResult, str]:
        out = io.StringIO()
        kw.setdefault("config", self.config)
        result = nightly.run(export or self.export, as_of=AS_OF, duckdb_path=self.live, reports_dir=reports,
                             target_path=self.target, console=Console(file=out, width=200), show_progress=False,
                             **kw)
        return result, out.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    from orb_finance.exports.generate import generate_sample

    root = tmp_path_factory.mktemp("nightly")
    export = root / "export"
    generate_sample(out_dir=export, customers=20, months=4, seed=11, fmt="parquet", end_date="2026-11-01",
                    console=Console(file=io.StringIO()))
    return Site(root, export)


@pytest.fixture(scope="module")
def first_night(site):
    result, output = site.run(site.root / "reports-1")
    return result, output


@pytest.fixture(scope="module")
def second_night(site, first_night):
    """The same night again (an incremental night: a copy of yesterday's warehouse, no new delivery), while two
    finance users read the warehouse: one holding a read-only connection opened before the run, one opening a
    new connection for every query. Each build stamps its file (orb_state.unit_tested.tested_at), so each reader
    shows which file it was reading."""
    con = duckdb.connect(str(site.live), read_only=True)
    yesterday = str(con.execute("select tested_at from orb_state.unit_tested").fetchall()[0][0])
    con.close()
    assert not Path(f"{site.live}.wal").exists()
    ledger_before = _sha256(site.ledger)
    inode_before = site.live.stat().st_ino
    stop = site.root / "stop-readers"
    readers = {}
    for mode in ("hold", "reconnect"):
        log = site.root / f"reader-{mode}.jsonl"
        proc = subprocess.Popen([sys.executable, "-c", READER, str(site.live), str(log), str(stop), mode, yesterday])
        readers[mode] = (proc, log)
    for mode, (proc, log) in readers.items():
        _wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2, f"reader {mode} started")
    try:
        result, output = site.run(site.root / "reports-2")
        returned_at = time.time()
        for mode, (proc, log) in readers.items():   # a few more reads after the swap
            _wait_for(lambda: sum(1 for r in _read_log(log) if r["t"] > returned_at) >= 3, f"reader {mode} after swap")
    finally:
        stop.touch()
        for proc, _ in readers.values():
            proc.wait(timeout=30)
    logs = {mode: _read_log(log) for mode, (_, log) in readers.items()}
    return SimpleNamespace(result=result, output=output, logs=logs, returned_at=returned_at,
                           ledger_before=ledger_before, inode_before=inode_before, yesterday=yesterday)


READER = r"""
import duckdb, json, os, sys, time
path, log, stop, mode, yesterday = sys.argv[1:6]

def probe(con):
    marker = int(str(con.execute("select tested_at from orb_state.unit_tested").fetchall()[0][0]) == yesterday)
    marts = con.execute("select count(*) from duckdb_tables() where schema_name = 'marts'").fetchall()[0][0]
    rows, net = con.execute("select count(*), sum(net_billings) from marts.billings_monthly").fetchall()[0]
    return {"marker": marker, "marts": marts, "rows": rows, "net": str(net)}

held = duckdb.connect(path, read_only=True) if mode == "hold" else None
with open(log, "a") as out:
    while not os.path.exists(stop):
        started = time.time()
        try:
            if held is not None:
                rec = probe(held)
            else:
                con = duckdb.connect(path, read_only=True)
                try:
                    rec = probe(con)
                finally:
                    con.close()
            rec["ok"] = True
        except Exception as exc:
            rec = {"ok": False, "error": repr(exc)}
        rec["started"], rec["t"] = started, time.time()
        out.write(json.dumps(rec) + "\n")
        out.flush()
        time.sleep(0.25)
"""


def _read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_json(result: nightly.NightlyResult) -> dict:
    assert result.run_json is not None
    return json.loads(result.run_json.read_text())


def _statuses(doc: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in doc["steps"]}


def _sync_records(site: Site) -> list[tuple]:
    con = sqlite3.connect(site.state)
    try:
        return con.execute("select record_id, object_type, orb_id, status from sync_records order by record_id").fetchall()
    finally:
        con.close()


def _utc(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# --- a good night -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_first_night_builds_syncs_and_writes_every_report(site, first_night):
    result, output = first_night
    assert result.exit_code == 0, result.reason
    doc = _run_json(result)
    assert doc["exit_code"] == 0 and doc["status"] == "ok" and doc["reason"] == "" and doc["as_of"] == AS_OF
    assert _statuses(doc) == {"validate": "ok", "build": "ok", "sync": "ok", "reconcile": "ok", "reports": "ok"}
    assert all(s["duration_seconds"] >= 0 for s in doc["steps"])
    assert _utc(doc["started_at"]) <= _utc(doc["finished_at"])
    for n, title in enumerate(["validate export", "dbt build + swap", "accounting sync", "reconcile the books",
                               "write reports"], start=1):
        assert f"[{n}/5] {title}" in output                 # progress, step by step

    build = doc["steps"][1]["details"]
    assert build["swapped"] is True and build["dbt_counts"].get("pass", 0) > 100 and build["dbt_failures"] == []
    assert set(build["dbt_counts"]) <= {"pass", "success"} and build["dbt_warnings"] == []     # the sample warns of nothing
    # every dbt unit test of the project ran on this first night and passed (the suite's fixture builds leave
    # them out: they depend on the code alone)
    full_target = next(p.parent for p in site.target.rglob("run_results.json") if "full" in p.parts)
    defined = set(json.loads((full_target / "manifest.json").read_text())["unit_tests"])
    ran = {r["unique_id"]: r["status"] for r in json.loads((full_target / "run_results.json").read_text())["results"]
           if r["unique_id"].startswith("unit_test.")}
    assert len(defined) >= 30 and set(ran) == defined and set(ran.values()) == {"pass"}
    # nothing left beside the live warehouse but its lock files
    assert sorted(p.name for p in site.live.parent.iterdir() if not p.name.endswith(".lock")) == ["orb_finance.duckdb"]

    sync = doc["steps"][2]["details"]
    records = _sync_records(site)
    synced = sum(n for by in sync["counts"].values() for s, n in by.items() if s == "synced")
    assert synced == len(records) == sync["sent"] > 0     # one provider write per synced record
    assert sync["failed"] == 0 and sync["failed_objects"] == 0
    con = duckdb.connect(str(site.live), read_only=True)
    try:
        n_customers = con.execute("select count(*) from marts.sync_customers").fetchall()[0][0]
    finally:
        con.close()
    assert sync["counts"]["customer"]["synced"] <= n_customers

    # the books tie to the warehouse (SPEC §5.1): every reconcile line, per currency and per customer
    books = doc["steps"][3]["details"]
    assert books["as_of"] == AS_OF and books["differences"] == [] and books["customers_differing"] == 0
    reports = doc["steps"][4]["details"]
    folder = site.root / "reports-1" / AS_OF
    assert reports["folder"] == str(folder) and result.run_json == folder / "run.json"
    assert sorted(p.name for p in folder.iterdir()) == ["csv", "orb-finance-2026-10-31.xlsx", "reconcile.csv",
                                                        "run.json", "summary.html"]
    with open(folder / "reconcile.csv", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert {r["status"] for r in lines} <= {"ties"} and {r["check"] for r in lines} == {
        "receivable", "customer_balance", "cash", "revenue", "tax"}
    assert "Do the books tie?" in (folder / "summary.html").read_text()
    assert len(list((folder / "csv").iterdir())) == len(finance_mart_names())
    con = duckdb.connect(str(site.live), read_only=True)
    try:                                    # no reporting currency: its three marts are built, empty
        for mart in ("revenue_monthly_reporting", "billings_monthly_reporting", "consolidated_monthly"):
            assert con.execute(f"select count(*) from marts.{mart}").fetchall() == [(0,)], mart
    finally:
        con.close()
    text = result.run_json.read_text()
    assert "password" not in text.lower() and "token" not in text.lower()


@pytest.mark.slow
def test_csv_of_billings_monthly_equals_the_mart(site, first_night):
    folder = site.root / "reports-1" / AS_OF
    with open(folder / "csv" / "billings_monthly.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    con = duckdb.connect(str(site.live), read_only=True)
    try:
        mart = con.execute("select month, currency, invoice_count, gross_billings, credit_notes, "
                           "customer_balance_applied, net_billings from marts.billings_monthly "
                           "order by month, currency").fetchall()
    finally:
        con.close()
    parsed = [(dt.date.fromisoformat(r["month"]), r["currency"], int(r["invoice_count"]), Decimal(r["gross_billings"]),
               Decimal(r["credit_notes"]), Decimal(r["customer_balance_applied"]), Decimal(r["net_billings"]))
              for r in rows]
    assert parsed == mart and len(mart) >= 4
    for r in parsed:                                        # the mart's own identity survives the trip
        assert r[6] == r[3] - r[4] - r[5]


@pytest.mark.slow
def test_workbook_and_html_of_a_real_night(site, first_night):
    folder = site.root / "reports-1" / AS_OF
    wb = openpyxl.load_workbook(folder / "orb-finance-2026-10-31.xlsx")
    assert wb.sheetnames == ["cover", *finance_mart_names(), "definitions"] and wb.sheetnames[1] == "billings_monthly"
    cover = {r[0].value: r[1].value for r in wb["cover"].iter_rows() if r[0].value}
    assert cover["Source (Orb export)"] == str(site.export)
    assert cover["Delivery files read"].startswith(f"{sum(1 for p in site.export.rglob('*.parquet'))} files")
    ws = wb["billings_monthly"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:G")
    formats = {row[1].value: row[6].number_format for row in ws.iter_rows(min_row=2)}
    assert formats["USD"] == "#,##0.00" and formats["JPY"] == "#,##0"      # the sample bills in USD, EUR, JPY
    page = (folder / "summary.html").read_text()
    assert "http://" not in page and "https://" not in page
    for chart in ("revenue-USD", "billings-JPY", "deferred-EUR", "sync-status"):
        assert f'<svg data-chart="{chart}"' in page
    assert "No failed records." in page


@pytest.mark.slow
def test_docs_are_built_from_a_copy_while_a_notebook_holds_the_warehouse(site, first_night, tmp_path):
    before = site.live.stat().st_mtime_ns
    notebook = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                                 "con = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
                                 "time.sleep(600)", str(site.live)], stdout=subprocess.PIPE, text=True)
    try:
        assert notebook.stdout.readline().strip() == "open"
        # no export given: the one the warehouse was built from (orb_state), read from the copy
        result, written = warehouse.generate_docs(tmp_path / "docs", duckdb_path=site.live,
                                                  target_path=site.root / "docs-target", show_progress=False)
    finally:
        notebook.kill()
        notebook.wait(timeout=10)
    assert result.success, result.reason()
    assert sorted(p.name for p in written) == ["catalog.json", "index.html", "manifest.json", "static_index.html"]
    page = (tmp_path / "docs" / "static_index.html").read_text()
    assert "Tracing a number back to a delivery file row" in page          # the landing page: the overview
    assert "What did we invoice each month, after credit notes and customer balance?" in page
    assert site.live.stat().st_mtime_ns == before                           # the warehouse was only read
    assert not (site.root / "docs-target" / "docs" / site.live.name).exists()   # the copy is gone


# --- the same night again, with readers ---------------------------------------------------------------------

@pytest.mark.slow
def test_second_night_writes_the_same_reports_and_syncs_nothing(site, first_night, second_night):
    result, ledger_before = second_night.result, second_night.ledger_before
    assert result.exit_code == 0, result.reason
    one, two = site.root / "reports-1" / AS_OF, site.root / "reports-2" / AS_OF
    names = sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file() and p.name != "run.json")
    assert len(names) == len(finance_mart_names()) + 3    # the CSVs, the workbook, the summary, reconcile.csv
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    sync = _run_json(result)["steps"][2]["details"]
    assert sync["sent"] == 0 and sync["records_written"] == 0
    assert not any(s == "synced" for by in sync["counts"].values() for s in by)
    assert _sha256(site.ledger) == ledger_before


@pytest.mark.slow
def test_a_reader_holding_the_warehouse_open_keeps_yesterdays_whole_file(site, first_night, second_night):
    result, logs, returned_at = second_night.result, second_night.logs, second_night.returned_at
    build = result.step("build")
    build_start = _utc(build.started_at)
    build_end = build_start + build.duration_seconds
    held = logs["hold"]
    assert all(r["ok"] for r in held), [r for r in held if not r["ok"]][:3]
    assert any(build_start < r["started"] and r["t"] < build_end for r in held)   # read during the build
    assert any(r["started"] > returned_at for r in held)                          # and after the swap
    assert {(r["marker"], r["marts"], r["rows"], r["net"]) for r in held} == {(1, *_marts_and_billings(site))}
    # the holder never saw the new file; a new connection now sees it (a new inode, renamed in: the old file
    # was not rewritten), and yesterday's is kept as previous
    assert site.live.stat().st_ino != second_night.inode_before
    assert _marker(site.live, second_night.yesterday) == 0
    assert _marker(warehouse.previous_path(site.live), second_night.yesterday) == 1


@pytest.mark.slow
def test_new_connections_during_the_run_see_a_whole_warehouse_old_or_new(site, first_night, second_night):
    result, logs, returned_at = second_night.result, second_night.logs, second_night.returned_at
    build = result.step("build")
    build_start = _utc(build.started_at)
    fresh = logs["reconnect"]
    assert all(r["ok"] for r in fresh), [r for r in fresh if not r["ok"]][:3]
    marts, rows, net = _marts_and_billings(site)
    assert all((r["marts"], r["rows"], r["net"]) == (marts, rows, net) for r in fresh)
    early = [r for r in fresh if build_start < r["started"] and r["t"] < build_start + 5]   # dbt is still running
    assert early and all(r["marker"] == 1 for r in early)
    after = [r for r in fresh if r["started"] > returned_at]
    assert after and all(r["marker"] == 0 for r in after)
    # old, then new: never back
    markers = [r["marker"] for r in fresh]
    assert markers == sorted(markers, reverse=True)


def _marts_and_billings(site: Site) -> tuple[int, int, str]:
    con = duckdb.connect(str(site.live), read_only=True)
    try:
        marts = con.execute("select count(*) from duckdb_tables() where schema_name = 'marts'").fetchall()[0][0]
        rows, net = con.execute("select count(*), sum(net_billings) from marts.billings_monthly").fetchall()[0]
    finally:
        con.close()
    return marts, rows, str(net)


def _marker(path: Path, yesterday: str) -> int:
    """1 when `path` is yesterday's warehouse file (its build stamp), else 0."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(str(con.execute("select tested_at from orb_state.unit_tested").fetchall()[0][0]) == yesterday)
    finally:
        con.close()


# --- failures -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_failed_build_leaves_yesterdays_warehouse_untouched_and_queryable(site, second_night, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(site.export, export)
    broken = export / "invoice_metadata" / "2026-11-01-0000.parquet"
    con = duckdb.connect()
    con.execute(f"copy (select * replace (case when row_number() over () = 1 then 'bogus' else status end as status) "
                f"from read_parquet('{broken}')) to '{tmp_path / 'fixed.parquet'}' (format parquet)")
    con.close()
    shutil.move(tmp_path / "fixed.parquet", broken)
    before = (_sha256(site.live), site.live.stat().st_ino, site.live.stat().st_mtime_ns)
    records_before = _sync_records(site)

    result, _ = site.run(site.root / "reports-failed", export=export)

    assert result.exit_code == nightly.EXIT_BUILD_FAILED == 3
    assert result.reason.startswith("build failed: model stg_orb__invoice_metadata error:")
    assert f"file {broken}, row 1, column status: 'bogus' is not one of" in result.reason
    assert (_sha256(site.live), site.live.stat().st_ino, site.live.stat().st_mtime_ns) == before
    assert _marts_and_billings(site)[0] > 0
    assert not [p for p in site.live.parent.glob(".building-*") if not p.name.endswith(".lock")]
    assert not Path(f"{site.live}.wal").exists()
    doc = _run_json(result)
    assert doc["exit_code"] == 3 and doc["reason"] == result.reason
    assert _statuses(doc) == {"validate": "ok", "build": "failed", "sync": "not run", "reconcile": "not run",
                              "reports": "not run"}
    assert doc["steps"][1]["details"]["swapped"] is False
    assert sorted(p.name for p in (site.root / "reports-failed" / AS_OF).iterdir()) == ["run.json"]
    assert _sync_records(site) == records_before


@pytest.mark.slow
def test_bad_export_stops_before_anything_is_built(site, first_night, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(site.export, export)
    shutil.rmtree(export / "customer")
    before = _sha256(site.live)
    result, output = site.run(tmp_path / "reports", export=export)
    assert result.exit_code == nightly.EXIT_BAD_EXPORT == 2
    assert result.reason == f"bad export: required resource 'customer' is missing: no directory {export / 'customer'}"
    assert _statuses(_run_json(result)) == {"validate": "failed", "build": "not run", "sync": "not run",
                                            "reconcile": "not run", "reports": "not run"}
    assert _sha256(site.live) == before
    assert "not run: the export is not usable" in output


@pytest.mark.slow
def test_stale_export_is_refused_unless_the_limit_allows_it(site, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(site.export, export)
    three_days_ago = time.time() - 72 * 3600
    for p in export.rglob("*"):
        os.utime(p, (three_days_ago, three_days_ago))
    with pytest.raises(ExportError) as err:
        validate_export(export, max_age_hours=36)
    assert "hours old (limit 36 h)" in err.value.one_line() and "72.0 hours" in err.value.one_line()
    assert validate_export(export, max_age_hours=80).age_hours == pytest.approx(72, abs=0.1)
    assert validate_export(export, max_age_hours=0).files > 0


@pytest.mark.slow
def test_sync_failures_exit_4_and_the_summary_lists_them(site, first_night, tmp_path):
    """A ledger whose accounts open after the invoices are dated: the provider refuses those invoices."""
    config = tmp_path / "sync.yml"
    config.write_text(f"provider: beancount\nstate_path: {tmp_path / 'state.sqlite'}\nbeancount:\n"
                      f"  ledger_path: {tmp_path / 'orb.beancount'}\n  open_date: '2026-09-01'\n")
    result, _ = site.run(tmp_path / "reports", config=config, skip_build=True)
    assert result.exit_code == nightly.EXIT_SYNC_FAILED == 4
    con = sqlite3.connect(tmp_path / "state.sqlite")
    failed = con.execute("select record_id, orb_id from sync_records where status = 'failed' order by record_id").fetchall()
    con.close()
    assert failed
    assert result.reason.startswith(f"sync had failures: {len(failed)} object(s) failed to sync ({len(failed)} in this run;"
                                    f" first: record {failed[0][0]} invoice {failed[0][1]}: account ")
    doc = _run_json(result)
    # the books miss the refused invoices, so they do not tie either (said too, after the sync's reason)
    assert _statuses(doc) == {"validate": "ok", "build": "skipped", "sync": "failed", "reconcile": "failed",
                              "reports": "ok"}
    assert "; also the books do not tie: " in result.reason
    page = (tmp_path / "reports" / AS_OF / "summary.html").read_text()
    assert f"Failed records ({len(failed)})" in page
    assert all(f"<code>{orb_id}</code>" in page for _, orb_id in failed)

    again, _ = site.run(tmp_path / "reports-again", config=config, skip_build=True)   # nothing retried by itself
    assert again.exit_code == 4 and f"({0} in this run;" in again.reason
    assert (tmp_path / "reports-again" / AS_OF / "summary.html").read_text() == page


@pytest.mark.slow
def test_a_sync_that_cannot_start_exits_4_and_the_reports_are_still_written(site, first_night, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # nothing listens: Tryton cannot be reached
    monkeypatch.setenv("ORBFIN_TEST_NIGHTLY_TRYTON_PW", "not-a-real-one")
    config = tmp_path / "sync.yml"
    config.write_text(f"provider: tryton\nstate_path: {tmp_path / 'state.sqlite'}\ntryton:\n  url: http://127.0.0.1:{port}\n"
                      "  password_env: ORBFIN_TEST_NIGHTLY_TRYTON_PW\n  retries: 0\n")
    result, _ = site.run(tmp_path / "reports", config=config, skip_build=True)
    assert result.exit_code == 4
    assert result.reason.startswith("sync had failures: the sync could not run: ")
    assert f"cannot reach Tryton at http://127.0.0.1:{port}" in result.reason
    assert _statuses(_run_json(result)) == {"validate": "ok", "build": "skipped", "sync": "failed",
                                            "reconcile": "skipped", "reports": "ok"}
    page = (tmp_path / "reports" / AS_OF / "summary.html").read_text()
    assert f"cannot reach Tryton at http://127.0.0.1:{port}" in page and "Reconcile did not run" in page


@pytest.mark.slow
def test_wrong_sync_settings_stop_the_night_before_anything_is_built(site, first_night, tmp_path):
    config = tmp_path / "sync.yml"
    config.write_text("provider: beancount\nbeancount:\n  ledger: elsewhere.beancount\n")    # a typo of ledger_path
    before = _sha256(site.live)
    with pytest.raises(OrbFinanceError, match="unknown setting.s. ledger; allowed here: .*ledger_path"):
        site.run(tmp_path / "reports", config=config)
    assert _sha256(site.live) == before and not (tmp_path / "reports").exists()


@pytest.mark.slow
def test_reports_failure_exits_5_after_a_good_sync(site, first_night, tmp_path):
    (tmp_path / "reports" / AS_OF / "summary.html").mkdir(parents=True)   # a directory where the file goes
    result, _ = site.run(tmp_path / "reports", skip_build=True)
    assert result.exit_code == nightly.EXIT_REPORTS_FAILED == 5
    assert result.reason.startswith("reports failed: IsADirectoryError:") and "summary.html" in result.reason
    assert _statuses(_run_json(result)) == {"validate": "ok", "build": "skipped", "sync": "ok", "reconcile": "ok",
                                            "reports": "failed"}


@pytest.mark.slow
def test_a_second_nightly_on_the_same_warehouse_does_not_start(site, first_night):
    lock = site.live.with_name(f".{site.live.name}.nightly.lock")
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OrbFinanceError, match="another orbfin nightly for .* is running"):
            site.run(site.root / "reports-locked")
    assert not (site.root / "reports-locked").exists()


def test_as_of_is_a_date_and_defaults_to_today_in_utc():
    assert nightly.parse_as_of("2026-10-31") == dt.date(2026, 10, 31)
    assert nightly.parse_as_of(None) == dt.datetime.now(dt.timezone.utc).date()
    with pytest.raises(OrbFinanceError, match="--as-of must be a date YYYY-MM-DD"):
        nightly.parse_as_of("31/10/2026")


# --- the swap's handling of write-ahead logs ------------------------------------------------------------------

LEAVE_WAL = ("import duckdb, os, sys, time; con = duckdb.connect(sys.argv[1]); "
             "con.execute(\"set checkpoint_threshold = '1TB'\"); con.execute('create table t as select 42 as v'); "
             "print('ready', flush=True); time.sleep(float(sys.argv[2])); os._exit(0)")


def test_a_pending_wal_of_the_live_file_is_merged_before_the_swap(tmp_path):
    live = tmp_path / "orb_finance.duckdb"
    subprocess.run([sys.executable, "-c", LEAVE_WAL, str(live), "0"], check=True, capture_output=True)
    assert Path(f"{live}.wal").exists()          # a writer died without a checkpoint
    assert warehouse._settle_live_wal(live) == ""
    assert not Path(f"{live}.wal").exists()
    con = duckdb.connect(str(live), read_only=True)
    assert con.execute("select v from t").fetchall() == [(42,)]
    con.close()


def test_the_swap_is_refused_while_a_writer_holds_the_live_file(tmp_path):
    live = tmp_path / "orb_finance.duckdb"
    writer = subprocess.Popen([sys.executable, "-c", LEAVE_WAL, str(live), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        problem = warehouse._settle_live_wal(live)
        assert problem.startswith(f"the live warehouse {live} has a write-ahead log and cannot be checkpointed")
        assert Path(f"{live}.wal").exists()
    finally:
        writer.kill()
        writer.wait()


# --- export validation on small hand-made exports -----------------------------------------------------------

@pytest.fixture
def tiny_export(tmp_path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "tiny"
    (root / "customer").mkdir(parents=True)
    (root / "invoice_metadata").mkdir()
    (root / "credit_note").mkdir()
    pq.write_table(pa.table({"id": ["cus_1"]}), root / "customer" / "2026-11-01-0000.parquet")
    (root / "invoice_metadata" / "2026-11-01-0000.csv").write_text("id,updated_at\ninv_1,2026-11-01T00:00:00Z\n")
    (root / "credit_note" / "2026-11-01-0000.jsonl").write_text('{"id": "cn_1"}\n')
    (root / "customer" / "_SUCCESS").write_text("")       # markers and hidden files are ignored, as dbt does
    (root / "customer" / ".partial.parquet").write_text("")
    return root


def test_a_small_export_passes(tiny_export):
    check = validate_export(tiny_export)
    assert check.files == 3 and check.parquet_rows == 1
    assert check.files_by_resource["customer"] == 1 and check.files_by_resource["item"] == 0
    assert check.age_hours is not None and check.age_hours < 1


@pytest.mark.parametrize("breakage, message", [
    (lambda r: shutil.rmtree(r / "invoice_metadata"), "required resource 'invoice_metadata' is missing: no directory {r}/invoice_metadata"),
    (lambda r: (r / "customer" / "2026-11-01-0000.parquet").unlink(), "required resource 'customer' has no delivery files in {r}/customer"),
    (lambda r: (r / "customer" / "2026-11-01-0000.parquet").write_bytes(b"PAR1 truncated"), "{r}/customer/2026-11-01-0000.parquet: not a readable parquet file"),
    (lambda r: (r / "invoice_metadata" / "2026-11-01-0000.csv").write_text(""), "{r}/invoice_metadata/2026-11-01-0000.csv: empty: a CSV delivery needs a header line"),
    (lambda r: (r / "credit_note" / "2026-11-01-0000.jsonl").write_text("not json\n"), "{r}/credit_note/2026-11-01-0000.jsonl: the first line is not JSON"),
    (lambda r: (r / "credit_note" / "2026-11-02.json").write_text("{}"), "{r}/credit_note/2026-11-02.json: not a delivery file"),
    (lambda r: (r / "invoice_metadata" / "x.csv.gz").write_bytes(b"not gzip"), "{r}/invoice_metadata/x.csv.gz: not a readable gzip file"),
    (lambda r: (r / "credit_note" / "2026-11").mkdir(), "{r}/credit_note/2026-11: a folder inside a resource directory (deliveries are files directly in {r}/credit_note/)"),
])
def test_a_broken_export_names_the_file(tiny_export, breakage, message):
    breakage(tiny_export)
    with pytest.raises(ExportError) as err:
        validate_export(tiny_export)
    assert err.value.problems[0].startswith(message.format(r=tiny_export)), err.value.problems
    assert len(err.value.problems) == 1


@pytest.mark.slow
def test_warehouse_revenue_recognition_posts_the_ended_months_and_shows_the_last_journal(site, first_night, tmp_path):
    config = tmp_path / "sync.yml"
    config.write_text(f"provider: beancount\nrevenue_recognition: warehouse\nstate_path: {tmp_path / 'state.sqlite'}\n"
                      f"beancount:\n  ledger_path: {tmp_path / 'orb.beancount'}\n")
    result, _ = site.run(tmp_path / "reports", config=config, skip_build=True)
    assert result.exit_code == 0, result.reason
    doc = _run_json(result)
    assert doc["steps"][2]["details"]["counts"]["revenue_journal"]["synced"] > 0
    assert doc["steps"][3]["status"] == "ok"                        # revenue per month and deferred balance tie
    page = (tmp_path / "reports" / AS_OF / "summary.html").read_text()
    assert "Revenue recognition journal: September 2026" in page and "Deferred revenue" in page
