"""Syncing the hand-written export into a Beancount ledger: what gets booked, voids, idempotence, bean-check, Fava.

Expected balances are worked out by hand in fixtures/sync_export/README.md.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from orb_finance.sync import state

from .conftest import balances, bean_check, bql

D = Decimal


def receivables(ledger: Path) -> dict[tuple[str, str], Decimal]:
    return balances(ledger, "Assets:Receivable")


def test_day1_books_every_object_once_with_the_hand_worked_balances(sync_setup, sync_warehouses):
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok, result.failures
    assert result.by_status() == {"customer": {"synced": 3}, "invoice": {"synced": 9},
                                  "credit_memo": {"synced": 3}, "payment": {"synced": 3},
                                  "balance_transaction": {"synced": 1}}
    check = bean_check(sync_setup.ledger)
    assert check.returncode == 0, check.stdout + check.stderr
    assert receivables(sync_setup.ledger) == {
        ("Assets:Receivable:USD:Acme-Corp", "USD"): D("200.50"),
        ("Assets:Receivable:USD:Cobalt-Labs-Inc", "USD"): D("35.00"),
    }   # Bolt's refund went to its customer balance: its receivable is 0 (no row)
    assert balances(sync_setup.ledger, "Income:Revenue") == {
        ("Income:Revenue:USD", "USD"): D("-397.50"), ("Income:Revenue:EUR", "EUR"): D("-300")}
    assert balances(sync_setup.ledger, "Income:CreditNotes") == {
        ("Income:CreditNotes:USD", "USD"): D("70"), ("Income:CreditNotes:EUR", "EUR"): D("50")}
    assert balances(sync_setup.ledger, "Liabilities:Tax") == {
        ("Liabilities:Tax:USD", "USD"): D("-28"), ("Liabilities:Tax:EUR", "EUR"): D("-47.50")}
    assert balances(sync_setup.ledger, "Liabilities:CustomerBalance") == {
        ("Liabilities:CustomerBalance:EUR:Bolt-GmbH", "EUR"): D("-59.50")}    # Acme: +10 goodwill - 10 applied
    assert balances(sync_setup.ledger, "Expenses:CustomerBalanceAdjustments") == {
        ("Expenses:CustomerBalanceAdjustments:USD", "USD"): D("10")}
    assert balances(sync_setup.ledger, "Assets:Cash") == {
        ("Assets:Cash:USD", "USD"): D("110"), ("Assets:Cash:EUR", "EUR"): D("357")}


def test_every_transaction_carries_its_orb_id_and_links_to_its_invoice(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    rows = bql(sync_setup.ledger, "SELECT DISTINCT entry_meta('orb_id'), entry_meta('orb_object'), links "
                                  "WHERE entry_meta('orb_id') = 'pa_a1'")
    assert rows == [("pa_a1", "payment", {"orb-inv_a1"})]
    ids = {r[0] for r in bql(sync_setup.ledger, "SELECT DISTINCT entry_meta('orb_id')")}
    assert ids == {"inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c1", "inv_c2",
                   "cn_a2", "cn_a4", "cn_b2", "pa_a1", "pa_b2", "paid:inv_b1", "cbt_a0"}


def test_a_second_run_sends_nothing_and_writes_no_record(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    ledger_before = sync_setup.ledger.read_text()
    records_before = len(sync_setup.records())
    again = sync_setup.run(sync_warehouses.day1)
    assert again.ok and again.sent == 0
    assert again.by_status() == {"invoice": {"up to date": 9}, "credit_memo": {"up to date": 3},
                                 "payment": {"up to date": 3}, "balance_transaction": {"up to date": 1}}
    assert sync_setup.ledger.read_text() == ledger_before
    assert len(sync_setup.records()) == records_before


def test_the_runs_own_check_writes_no_pickle_cache_beside_the_ledger(sync_setup, sync_warehouses, monkeypatch):
    # Beancount's loader caches any ledger that takes over a second to load in a hidden pickle beside it; a
    # real ledger does (10 MB at 2000 customers x 12 months), and the next run's append makes it stale at
    # once. Make the small fixture count as slow, and check the sync's own check leaves no cache behind.
    from beancount import loader

    monkeypatch.setattr(loader, "PICKLE_CACHE_THRESHOLD", 0.0)
    loader.initialize(use_cache=True)
    try:
        result = sync_setup.run(sync_warehouses.day1)
    finally:
        loader.initialize(use_cache=False)
    assert result.ok and result.sent > 0
    assert sorted(p.name for p in sync_setup.ledger.parent.iterdir()) == [sync_setup.ledger.name]


def test_day2_voids_delete_memos_and_void_the_invoice(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    result = sync_setup.run(sync_warehouses.day2)
    assert result.ok, result.failures
    assert result.by_status() == {"invoice": {"synced": 2, "up to date": 8},       # inv_a6 created, inv_a4 voided
                                  "credit_memo": {"synced": 2, "up to date": 1},   # cn_a4, cn_b2 deleted
                                  "payment": {"synced": 1, "up to date": 3},       # pa_a2
                                  "balance_transaction": {"up to date": 1}}        # cbt_b3 is booked by cn_b2's deletion
    actions = {(r.object_type, r.orb_id): r.action for r in sync_setup.records() if r.run_id == result.run_id}
    assert actions == {("invoice", "inv_a6"): "create", ("invoice", "inv_a4"): "void",
                       ("credit_memo", "cn_a4"): "delete", ("credit_memo", "cn_b2"): "delete",
                       ("payment", "pa_a2"): "create"}
    # the memo of the voided invoice is deleted before the invoice is voided
    order = [r.orb_id for r in sorted(sync_setup.records(), key=lambda r: r.record_id) if r.run_id == result.run_id]
    assert order.index("cn_a4") < order.index("inv_a4")
    assert bean_check(sync_setup.ledger).returncode == 0
    assert receivables(sync_setup.ledger) == {
        ("Assets:Receivable:USD:Acme-Corp", "USD"): D("45.50"),
        ("Assets:Receivable:USD:Cobalt-Labs-Inc", "USD"): D("35.00"),
    }   # Bolt's EUR receivable stays 0 (an empty inventory: no row)
    assert balances(sync_setup.ledger, "Liabilities:CustomerBalance") == {}      # Bolt: 59.50 credited, taken back
    # the void is a reversing entry dated the void, tagged and linked to the invoice
    assert bql(sync_setup.ledger, "SELECT date, tags, links, entry_meta('reverses') WHERE entry_meta('orb_id') = "
                                  "'inv_a4' AND 'orb-void' IN tags AND account ~ 'Receivable'") == [
        (__import__("datetime").date(2026, 4, 2), {"orb-void"}, {"orb-inv_a4"}, "invoice/inv_a4/1")]


def test_voided_before_it_was_ever_synced_is_not_sent_at_all(sync_setup, sync_warehouses):
    result = sync_setup.run(sync_warehouses.day2)          # straight to day 2: inv_a4 was never in the ledger
    assert result.ok
    sent = {r.orb_id for r in sync_setup.records()}
    assert "inv_a4" not in sent and "cn_a4" not in sent and "cn_b2" not in sent
    assert receivables(sync_setup.ledger)[("Assets:Receivable:USD:Acme-Corp", "USD")] == D("45.50")


def test_the_ledger_opens_in_fava(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fava = subprocess.Popen([str(Path(sys.executable).parent / "fava"), "--host", "127.0.0.1", "--port", str(port),
                             str(sync_setup.ledger)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=5) as resp:
                    page, final_url = resp.read().decode(), resp.url
                break
            except OSError:
                if time.monotonic() > deadline or fava.poll() is not None:
                    raise
                time.sleep(0.2)
        assert "income_statement" in final_url and "<html" in page.lower()
        slug = final_url.split("/")[3]
        with urllib.request.urlopen(f"{base}/{slug}/api/errors", timeout=10) as resp:
            assert '"data":[]' in resp.read().decode().replace(" ", "")
    finally:
        fava.kill()
        fava.wait(timeout=10)


def test_accounts_open_on_their_first_use_and_fava_shows_income_positive_with_separators(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    from beancount import loader
    from fava.core import FavaLedger

    entries, errors, _ = loader.load_file(str(sync_setup.ledger))
    assert errors == []
    opens = {e.account: e.date for e in entries if type(e).__name__ == "Open"}
    first_posting: dict[str, object] = {}
    for e in entries:
        for p in getattr(e, "postings", None) or ():
            first_posting[p.account] = min(first_posting.get(p.account, e.date), e.date)
    assert opens == first_posting                      # every account opens on the day of its first entry
    # worked by hand from fixtures/sync_export/README.md: inv_c1 (2025-12-20) is the first USD invoice, pa_a1 the
    # first USD payment (2026-01-20), cbt_a0 the goodwill (2026-01-10), cn_b2 the refund into Bolt's balance
    assert opens["Assets:Receivable:USD:Cobalt-Labs-Inc"] == opens["Income:Revenue:USD"] == dt.date(2025, 12, 20)
    assert opens["Assets:Cash:USD"] == dt.date(2026, 1, 20)
    assert opens["Expenses:CustomerBalanceAdjustments:USD"] == dt.date(2026, 1, 10)
    assert opens["Liabilities:CustomerBalance:EUR:Bolt-GmbH"] == dt.date(2026, 3, 1)

    fava = FavaLedger(str(sync_setup.ledger))
    assert fava.fava_options.invert_income_liabilities_equity is True
    assert fava.format_decimal(D("1234567.5"), "USD") == "1,234,567.50"
    assert fava.format_decimal(D("1234567.5"), "EUR") == "1,234,567.50"
    commodities = {e.currency: e.meta.get("precision") for e in entries if type(e).__name__ == "Commodity"}
    assert commodities == {"USD": 2, "EUR": 2}


def test_records_are_one_row_per_attempt_with_what_the_csv_needs(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    rec, = sync_setup.records(orb_id="inv_a2")
    assert (rec.object_type, rec.action, rec.status, rec.provider, rec.provider_id) == (
        "invoice", "create", "synced", "beancount", "invoice/inv_a2/1")
    assert (rec.invoice_number, rec.amount, rec.currency) == ("INV-0002", "55.00", "USD")
    assert rec.error is None and len(rec.payload_hash) == 64
    assert {r.status for r in sync_setup.records()} == {state.SYNCED}


def test_a_ledger_changed_since_its_last_check_is_checked_even_when_nothing_is_sent(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    good = sync_setup.ledger.read_text()
    # someone appends an entry on an account that was never opened: the next run has nothing to send ...
    with open(sync_setup.ledger, "a", encoding="utf-8") as fh:
        fh.write('2026-04-02 * "typo"\n  Assets:Cahs:USD  1.00 USD\n  Income:Revenue:USD  -1.00 USD\n\n')
    again = sync_setup.run(sync_warehouses.day1)
    assert again.sent == 0
    assert again.aborted and "bean-check fails" in again.aborted and "Assets:Cahs:USD" in again.aborted   # ... but says so
    third = sync_setup.run(sync_warehouses.day1)            # still broken: still said (the check did not pass)
    assert third.aborted and "bean-check fails" in third.aborted
    sync_setup.ledger.write_text(good)
    fixed = sync_setup.run(sync_warehouses.day1)
    assert fixed.ok and fixed.sent == 0
