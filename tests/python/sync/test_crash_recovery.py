"""Kill -9 in the middle of a run, run again: every object is in the ledger exactly once and the interrupted
records end `synced` (never a silent duplicate), because every send is written `pending` first and every
create is preceded by a lookup by Orb id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from .conftest import PROJECT, balances, bean_check, bql

RUNNER = Path(__file__).with_name("crash_runner.py")


def run_until_killed(setup, duckdb: Path, trap: str, timeout: float = 120) -> None:
    """Start `orbfin sync run` with a trap, wait until it fires, SIGKILL the process."""
    marker = setup.root / "trap.fired"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "ORBFIN_TRAP": trap, "ORBFIN_TRAP_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, str(RUNNER), "sync", "run", "--config", str(setup.config),
                             "--duckdb-path", str(duckdb)], cwd=PROJECT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the trap fired:\n{proc.stdout.read()}")
            if time.monotonic() > deadline:
                raise AssertionError("the trap never fired")
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def entries_per_orb_id(ledger: Path) -> Counter:
    """How many creating transactions (orb_txn set, reversals excluded) each Orb id has in the ledger."""
    rows = bql(ledger, "SELECT DISTINCT entry_meta('orb_txn'), entry_meta('orb_id')")
    return Counter(orb_id for txn, orb_id in rows if txn is not None)


def assert_day1_complete(setup) -> None:
    per_id = entries_per_orb_id(setup.ledger)
    # 9 invoices, 3 memos, 3 payments, 1 balance entry (the goodwill credit)
    assert len(per_id) == 16 and set(per_id.values()) == {1}, per_id
    assert bean_check(setup.ledger).returncode == 0
    assert balances(setup.ledger, "Assets:Receivable") == {
        ("Assets:Receivable:USD:Acme-Corp", "USD"): Decimal("200.50"),
        ("Assets:Receivable:USD:Cobalt-Labs-Inc", "USD"): Decimal("35.00")}
    # one synced record per object (3 customers and the 16 above), nothing left pending or failed
    latest = {}
    for r in sorted(setup.records(), key=lambda r: r.record_id):
        latest[(r.object_type, r.orb_id)] = r.status
    assert len(latest) == 19 and set(latest.values()) == {"synced"}


def test_killed_after_writing_some_invoices_resolves_them_by_lookup(sync_setup, sync_warehouses):
    sync_setup.write()
    run_until_killed(sync_setup, sync_warehouses.day1, "after_append:3")
    # the dead run left all 9 invoices pending; 3 of them reached the ledger
    pending = {r.orb_id: r.record_id for r in sync_setup.records(status="pending")}
    assert len(pending) == 9
    assert sum(entries_per_orb_id(sync_setup.ledger).values()) == 3

    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    assert_day1_complete(sync_setup)
    # the interrupted records themselves ended synced (no second record for those invoices)
    for orb_id, record_id in pending.items():
        recs = sync_setup.records(orb_id=orb_id)
        assert [(r.record_id, r.status) for r in recs] == [(record_id, "synced")]
    assert result.sent == 6 + 3 + 3 + 1      # only the 6 invoices not in the ledger were sent again


def test_killed_before_sending_sends_the_pending_records_again(sync_setup, sync_warehouses):
    sync_setup.write()
    run_until_killed(sync_setup, sync_warehouses.day1, "before_create:1")
    assert {r.status for r in sync_setup.records(object_type="invoice")} == {"pending"}
    assert entries_per_orb_id(sync_setup.ledger) == Counter()
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    assert_day1_complete(sync_setup)


def test_killed_twice_then_completed_is_still_exactly_once(sync_setup, sync_warehouses):
    sync_setup.write()
    run_until_killed(sync_setup, sync_warehouses.day1, "after_append:2")
    run_until_killed(sync_setup, sync_warehouses.day1, "after_append:5")
    sync_setup.run(sync_warehouses.day1)
    assert_day1_complete(sync_setup)


def test_a_torn_last_entry_is_moved_aside_and_the_ledger_stays_valid(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    text = sync_setup.ledger.read_text()
    # simulate a crash in the middle of appending an entry (half a transaction at the end of the file)
    with open(sync_setup.ledger, "a") as fh:
        fh.write('2026-05-01 * "Acme Corp" "Invoice INV-9999" #orb-invoice\n  orb_object: "invoice"\n'
                 '  Assets:Receivable:USD:Acme-Corp   110.00 USD\n  Income:Revenue:USD   -100.0')
    assert bean_check(sync_setup.ledger).returncode != 0
    again = sync_setup.run(sync_warehouses.day1)
    assert again.ok and again.sent == 0
    assert sync_setup.ledger.read_text() == text
    aside, = sync_setup.ledger.parent.glob("orb.beancount.torn-*")
    assert aside.read_text().endswith("Income:Revenue:USD   -100.0")
    assert bean_check(sync_setup.ledger).returncode == 0
