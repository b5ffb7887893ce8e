"""`orbfin sync resync`: a synced object is sent again (the old provider object is reversed, a new one booked);
an invoice takes its payments and credit memos with it (SPEC §5), so none is left pointing at the old invoice.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

from .conftest import balances, bean_check, bql
from .test_crash_recovery import run_until_killed


def live_per_orb_id(ledger: Path) -> Counter:
    """How many live (created and not reversed) transactions each Orb id has."""
    rows = bql(ledger, "SELECT DISTINCT entry_meta('orb_txn'), entry_meta('reverses'), entry_meta('orb_id')")
    created = {txn: orb_id for txn, _, orb_id in rows if txn}
    reversed_ = {rev for _, rev, _ in rows if rev}
    return Counter(orb_id for txn, orb_id in created.items() if txn not in reversed_)


def history(setup, orb_id):
    return [(r.action, r.status, r.provider_id) for r in setup.records(orb_id=orb_id)]   # newest first


def test_resync_of_an_unchanged_invoice_relinks_it_and_its_dependents(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    ledger = sync_setup.ledger.read_text()
    out = sync_setup.cli("resync", "invoice", "inv_b2", "--duckdb-path", str(sync_warehouses.day1))
    assert out.returncode == 0, out.stdout + out.stderr
    # each object got a new synced record and its old one is `resynced` ...
    assert history(sync_setup, "inv_b2") == [("resync", "synced", "invoice/inv_b2/1"),
                                              ("create", "resynced", "invoice/inv_b2/1")]
    assert history(sync_setup, "cn_b2") == [("resync", "synced", "credit_memo/cn_b2/1"),
                                             ("create", "resynced", "credit_memo/cn_b2/1")]
    assert history(sync_setup, "pa_b2") == [("resync", "synced", "payment/pa_b2/1"),
                                             ("create", "resynced", "payment/pa_b2/1")]
    assert history(sync_setup, "inv_b1") == [("create", "synced", "invoice/inv_b1/1")]   # nothing else touched
    # ... but they were still in the ledger exactly as sent, so nothing was booked again
    assert sync_setup.ledger.read_text() == ledger


def test_resync_after_remapping_the_customer_moves_the_invoice_payment_and_memo(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    sync_setup.cli("map-customer", "cus_bolt", "Bolt-Europe", check=True)
    out = sync_setup.cli("resync", "invoice", "inv_b2", "--duckdb-path", str(sync_warehouses.day1))
    assert out.returncode == 0, out.stdout + out.stderr
    assert history(sync_setup, "inv_b2") == [("resync", "synced", "invoice/inv_b2/2"),
                                              ("create", "resynced", "invoice/inv_b2/1")]
    assert history(sync_setup, "cn_b2") == [("resync", "synced", "credit_memo/cn_b2/2"),
                                             ("create", "resynced", "credit_memo/cn_b2/1")]
    assert history(sync_setup, "pa_b2") == [("resync", "synced", "payment/pa_b2/2"),
                                             ("create", "resynced", "payment/pa_b2/1")]
    assert history(sync_setup, "inv_b1") == [("create", "synced", "invoice/inv_b1/1")]
    # each object is live exactly once; inv_b2 (238 billed, 238 paid) and the refund cn_b2 put in the customer's
    # balance moved to the new customer's accounts
    live = live_per_orb_id(sync_setup.ledger)
    assert set(live.values()) == {1} and len(live) == 16
    assert bean_check(sync_setup.ledger).returncode == 0
    assert balances(sync_setup.ledger, "Assets:Receivable:EUR") == {}       # paid in full under either name
    assert balances(sync_setup.ledger, "Liabilities:CustomerBalance:EUR") == {
        ("Liabilities:CustomerBalance:EUR:Bolt-Europe", "EUR"): Decimal("-59.50")}   # Bolt-GmbH is back to 0
    # the old entries were reversed on their own dates
    reversals = bql(sync_setup.ledger, "SELECT DISTINCT date, entry_meta('reverses') WHERE 'orb-resync' IN tags")
    assert sorted(reversals) == sorted([(dt.date(2026, 2, 15), "invoice/inv_b2/1"),
                                        (dt.date(2026, 3, 1), "credit_memo/cn_b2/1"),
                                        (dt.date(2026, 2, 20), "payment/pa_b2/1")])


def test_resync_refuses_what_is_not_synced(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    out = sync_setup.cli("resync", "invoice", "inv_nope", "--duckdb-path", str(sync_warehouses.day1))
    assert out.returncode == 1 and "not in marts.sync_invoices" in out.stderr
    sync_setup.run(sync_warehouses.day2)
    out = sync_setup.cli("resync", "invoice", "inv_a4", "--duckdb-path", str(sync_warehouses.day2))
    assert out.returncode == 1 and "voided in Orb" in out.stderr


def test_resync_killed_halfway_completes_on_the_next_run(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    sync_setup.cli("map-customer", "cus_bolt", "Bolt-Europe", check=True)
    # marked resynced, old objects reversed, killed before the new invoice is booked
    marker = sync_setup.root / "trap.fired"
    import os
    import signal
    import subprocess
    import sys
    import time
    from .conftest import PROJECT
    from .test_crash_recovery import RUNNER
    env = {**os.environ, "ORBFIN_TRAP": "before_create:1", "ORBFIN_TRAP_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, str(RUNNER), "sync", "resync", "invoice", "inv_b2", "--config",
                             str(sync_setup.config), "--duckdb-path", str(sync_warehouses.day1)], cwd=PROJECT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert live_per_orb_id(sync_setup.ledger)["inv_b2"] == 0           # taken out, not yet booked again
    assert {r.status for r in sync_setup.records(orb_id="inv_b2")} == {"pending", "resynced"}

    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    live = live_per_orb_id(sync_setup.ledger)
    assert set(live.values()) == {1} and len(live) == 16
    assert [s for _, s, _ in history(sync_setup, "inv_b2")] == ["synced", "resynced"]
    assert [s for _, s, _ in history(sync_setup, "pa_b2")] == ["synced", "resynced"]
    assert bean_check(sync_setup.ledger).returncode == 0


def test_an_invoice_changed_in_orb_after_it_was_synced_is_listed_not_resent(sync_setup, sync_warehouses, dbt_builder,
                                                                          tmp_path):
    from .conftest import SELECT, SYNC_EXPORT

    sync_setup.run(sync_warehouses.day1)
    ledger = sync_setup.ledger.read_text()
    export = tmp_path / "export"
    shutil.copytree(SYNC_EXPORT / "day1", export)
    # a later delivery changes inv_c2's due date (what the provider invoice carries)
    (export / "invoice_metadata" / "2026-04-02-0000.csv").write_text(
        "id,created_at,updated_at,deleted_at,invoice_number,customer_id,subscription_id,status,invoice_source,"
        "invoicing_currency,subtotal,total,amount_due,invoice_date,due_date,issued_at,paid_at,voided_at,"
        "payment_provider,payment_provider_id,memo,metadata\n"
        "inv_c2,2026-01-25T00:00:00Z,2026-04-02T00:00:00Z,,INV-0202,cus_cobalt,,issued,one_off,USD,5.00,5.00,5.00,"
        "2026-01-25T00:00:00Z,2026-03-31T00:00:00Z,2026-01-25T10:00:00Z,,,,,,\n")
    built = dbt_builder.build(export, select=SELECT, keep_as=tmp_path / "changed.duckdb")
    assert built.success, built.reason()
    result = sync_setup.run(tmp_path / "changed.duckdb")
    assert result.ok and result.sent == 0 and result.changed == [("invoice", "inv_c2")]
    assert sync_setup.ledger.read_text() == ledger                      # nothing re-sent
    out = sync_setup.cli("records", "--changed", check=True)
    assert "1 object(s) changed in Orb since they were synced" in out.stdout and "inv_c2" in out.stdout
