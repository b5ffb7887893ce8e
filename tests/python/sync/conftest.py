"""Fixtures of the accounting-sync tests: the hand-written export built once per session (two snapshots), and
helpers to write a settings file, run a sync pass, and read a ledger with beanquery.

fixtures/sync_export/day1 is the export of 2026-04-01; day2 adds the deliveries of 2026-04-10 on top of it
(inv_a2 paid, inv_a4 voided, cn_b2 voided, inv_a6 issued). The README there works every expected value out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from orb_finance import warehouse
from orb_finance.sync import engine as sync_engine
from orb_finance.sync import settings as sync_settings

HERE = Path(__file__).parent
SYNC_EXPORT = HERE / "fixtures" / "sync_export"
PROJECT = HERE.parents[2]
# the sync marts, and the finance marts reconcile ties the books to
SELECT = ["path:seeds", "path:models/staging", "+path:models/marts/accounting_sync", "+ar_aging", "+customer_balances"]


def build_warehouse(dbt_builder, export: Path, keep_as: Path) -> Path:
    """A real dbt build of the sync marts (and everything they read) of `export`, kept at `keep_as`."""
    for stale in (dbt_builder.db_path, dbt_builder.db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    result = warehouse.build(export, dbt_builder.db_path, select=SELECT,
                             target_path=dbt_builder.target_path, show_progress=False, skip_unit_tests=True)
    assert result.success, result.reason()
    shutil.copyfile(dbt_builder.db_path, keep_as)
    return keep_as


def later_export(first: Path, later: Path, dest: Path) -> Path:
    """`first` with the later deliveries of `later` added (each resource's files side by side), at `dest`."""
    shutil.copytree(first, dest)
    for resource in later.iterdir():
        (dest / resource.name).mkdir(exist_ok=True)
        for f in resource.iterdir():
            shutil.copyfile(f, dest / resource.name / f.name)
    return dest


@dataclass
class Warehouses:
    day1: Path
    day2: Path


@pytest.fixture(scope="session")
def sync_warehouses(dbt_builder, build_once) -> Warehouses:
    def make(root: Path) -> None:
        day2_export = later_export(SYNC_EXPORT / "day1", SYNC_EXPORT / "day2", root / "export_day2")
        build_warehouse(dbt_builder, SYNC_EXPORT / "day1", root / "day1.duckdb")
        build_warehouse(dbt_builder, day2_export, root / "day2.duckdb")

    root = build_once("sync_warehouses", make)
    return Warehouses(day1=root / "day1.duckdb", day2=root / "day2.duckdb")


BOOKS_EXPORT = HERE / "fixtures" / "books_export"


@dataclass
class BooksWarehouses:
    day_a: Path
    day_b: Path


@pytest.fixture(scope="session")
def books_warehouses(dbt_builder, build_once) -> BooksWarehouses:
    def make(root: Path) -> None:
        day_b_export = later_export(BOOKS_EXPORT / "day_a", BOOKS_EXPORT / "day_b", root / "export_day_b")
        for name, export, as_of in (("day_a", BOOKS_EXPORT / "day_a", "2026-04-30"), ("day_b", day_b_export, "2026-06-01")):
            result = dbt_builder.build(export, select=SELECT, as_of=as_of, keep_as=root / f"{name}.duckdb")
            assert result.success, result.reason()

    root = build_once("books_warehouses", make)
    return BooksWarehouses(day_a=root / "day_a.duckdb", day_b=root / "day_b.duckdb")


def books_fixture_ties(sync_setup, books_warehouses) -> None:
    """Sync fixtures/books_export day A then day B into the provider `sync_setup` is written for; after each,
    reconcile ties to ar_aging and customer_balances (the hand-worked receivable 22.00 and customer balance
    0.00 / 30.00 of its README)."""
    from decimal import Decimal as D

    from orb_finance.sync import reconcile as rc

    for warehouse, balance in ((books_warehouses.day_a, D("0")), (books_warehouses.day_b, D("30.00"))):
        result = sync_setup.run(warehouse)
        assert result.ok, result.failures
        report = rc.reconcile(sync_setup.settings(), warehouse, by_customer=True)
        assert report.ok, [rc.describe(l) for l in report.differences + report.customers if l.status == rc.DIFFERS]
        lines = {(l.check, l.customer_id): l for l in report.customers}
        assert lines[("receivable", "cus_dana")].books == D("22.00")
        assert lines.get(("customer_balance", "cus_dana"), rc.Line("", "", D(0), D(0))).books == balance


@dataclass
class SyncSetup:
    """One test's sync: its settings file, state store and ledger, in tmp_path."""
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "accounting_sync.yml"

    @property
    def state(self) -> Path:
        return self.root / "state.sqlite"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger" / "orb.beancount"

    def write(self, **settings) -> Path:
        raw = {"provider": "beancount", "state_path": str(self.state),
               "beancount": {"ledger_path": str(self.ledger)}}
        for key, value in settings.items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        self.config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return self.config

    def settings(self):
        return sync_settings.load(self.config)

    def run(self, duckdb_path: Path):
        if not self.config.exists():
            self.write()
        return sync_engine.SyncEngine(self.settings(), duckdb_path, show_progress=False).run()

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        if not self.config.exists():
            self.write()
        proc = subprocess.run([sys.executable, "-m", "orb_finance.cli", "sync", *args, "--config", str(self.config)],
                              cwd=PROJECT, capture_output=True, text=True, timeout=300)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def cli_top(self, *args: str) -> subprocess.CompletedProcess:
        """`orbfin <args>` (not under `sync`)."""
        return subprocess.run([sys.executable, "-m", "orb_finance.cli", *args], cwd=PROJECT, capture_output=True,
                              text=True, timeout=300)

    def records(self, **filters):
        from orb_finance.sync import state
        with state.StateStore(self.state) as store:
            return store.records(**filters)


@pytest.fixture
def sync_setup(tmp_path) -> SyncSetup:
    return SyncSetup(tmp_path)


def bean_check(ledger: Path) -> subprocess.CompletedProcess:
    """The real bean-check command."""
    return subprocess.run([str(Path(sys.executable).parent / "bean-check"), str(ledger)], capture_output=True,
                          text=True, timeout=120)


def bql(ledger: Path, query: str) -> list[tuple]:
    """Rows of a beanquery query on the ledger (positions as (number, currency) per row)."""
    import beanquery

    con = beanquery.connect(f"beancount:{ledger}")
    cur = con.execute(query)
    return [tuple(_plain(v) for v in row) for row in cur.fetchall()]


def balances(ledger: Path, account_prefix: str) -> dict[tuple[str, str], Decimal]:
    """{(account, currency): balance} of the accounts under a prefix, from beanquery."""
    rows = bql(ledger, f"SELECT account, sum(position) WHERE account ~ '^{account_prefix}' GROUP BY account")
    out: dict[tuple[str, str], Decimal] = {}
    for account, inventory in rows:
        for number, currency in inventory:
            out[(account, currency)] = out.get((account, currency), Decimal(0)) + number
    return out


def _plain(value):
    """An inventory as a sorted list of (number, currency); anything else as is."""
    if hasattr(value, "get_positions"):
        return sorted((p.units.number, p.units.currency) for p in value.get_positions())
    return value


# --- Tryton -------------------------------------------------------------------------------------------

TRYTON_PASSWORD_ENV = "ORBFIN_TEST_TRYTON_PASSWORD"
TRYTON_PASSWORD = "admin-Pw-7c1e"          # the template's admin password (a test value, never a real secret)


@pytest.fixture(scope="session")
def tryton_template(request) -> Path:
    """A ready Tryton database (modules, company, chart, fiscal year 2026, currencies, payment methods), built
    once and cached under the pytest cache dir, keyed on the pinned versions and the bootstrap's source.
    2026 only on purpose: the fixture's 2025 invoice (inv_c1) is refused by Tryton (no period)."""
    from orb_finance.sync.providers import tryton_server

    cache = Path(request.config.cache.mkdir("orbfin_tryton"))
    return tryton_server.template(cache, [2026], password=TRYTON_PASSWORD)


@pytest.fixture
def tryton(tryton_template, tmp_path, monkeypatch):
    """A Tryton server of its own for one test: a copy of the template, on a free 127.0.0.1 port."""
    from orb_finance.sync.providers import tryton_server

    monkeypatch.setenv(TRYTON_PASSWORD_ENV, TRYTON_PASSWORD)
    directory = tmp_path / "tryton"
    tryton_server.copy_database(tryton_template, directory, "orb")
    server = tryton_server.TrytonServer(directory, "orb").start()
    try:
        yield server
    finally:
        server.stop()


def tryton_settings(server, **extra) -> dict:
    return {"provider": "tryton", "tryton": {**server.provider_settings(TRYTON_PASSWORD_ENV), **extra}}


def tryton_client(server):
    """A provider connection for assertions (the same JSON-RPC the sync uses)."""
    import os
    from orb_finance.sync.providers.tryton import TrytonProvider

    os.environ.setdefault(TRYTON_PASSWORD_ENV, TRYTON_PASSWORD)
    return TrytonProvider(server.provider_settings(TRYTON_PASSWORD_ENV))


# --- QuickBooks -----------------------------------------------------------------------------------------

from .qbo import qbo_sandbox  # noqa: E402,F401  (the fixture, for the conformance suite's harness)
