"""The provider conformance suite: every provider (Beancount, Tryton, and each new one, through harnesses.py)
behaves the same where the sync relies on it: create -> find -> remove -> find; removing twice succeeds; a write
whose answer was lost stays pending and the next run settles it without a duplicate; one sync at a time; no
secret in any error, record or export, even when the provider echoes the request.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from orb_finance import redact
from orb_finance.sync import engine as sync_engine
from orb_finance.sync import settings as sync_settings
from orb_finance.sync.lock import EXIT_BUSY
from orb_finance.sync.providers import Removal

from .conftest import PROJECT
from .harnesses import HARNESSES, EchoServer
from .test_crash_recovery import RUNNER

D = Decimal
# Objects of the day-1 fixture every provider books (fixtures/sync_export/README.md); inv_c1 (2025) is left out:
# the test Tryton has no 2025 period.
DAY1_INVOICES = {"inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c2"}


@pytest.fixture(params=[pytest.param(h, marks=h.marks, id=h.name) for h in HARNESSES])
def harness(request):
    return request.param(request)


def configure(sync_setup, harness, **extra):
    return sync_setup.write(**harness.settings(), **extra)


def provider_of(sync_setup):
    return sync_engine.SyncEngine(sync_setup.settings()).make_provider()


def test_create_find_remove_find(sync_setup, sync_warehouses, harness):
    configure(sync_setup, harness)
    result = sync_setup.run(sync_warehouses.day1)
    assert not result.aborted
    provider = provider_of(sync_setup)
    try:
        found = provider.find("invoice", sorted(DAY1_INVOICES))
        assert set(found) == DAY1_INVOICES                        # every invoice found by its Orb id
        assert set(provider.find("customer", ["cus_acme", "cus_bolt", "cus_cobalt"])) == {"cus_acme", "cus_bolt",
                                                                                        "cus_cobalt"}
        assert set(provider.find("payment", ["pa_a1", "pa_b2", "paid:inv_b1"])) == {"pa_a1", "pa_b2", "paid:inv_b1"}
        assert set(provider.find("balance_transaction", ["cbt_a0"])) == {"cbt_a0"}
        # take out a credit memo, then an invoice that has none left
        memo = provider.find("credit_memo", ["cn_a2"])["cn_a2"]
        removal = Removal("cn_a2", memo, dt.date(2026, 4, 2), "delete")
        assert [o.ok for o in provider.remove("credit_memo", [removal])] == [True]
        assert provider.find("credit_memo", ["cn_a2"]) == {}
        assert [o.ok for o in provider.remove("credit_memo", [removal])] == [True]     # twice: still fine
        invoice = found["inv_a5"]
        void = Removal("inv_a5", invoice, dt.date(2026, 4, 2), "void")
        assert [o.ok for o in provider.remove("invoice", [void])] == [True]
        assert provider.find("invoice", ["inv_a5"]) == {}
        assert [o.ok for o in provider.remove("invoice", [void])] == [True]
        assert set(provider.find("invoice", sorted(DAY1_INVOICES))) == DAY1_INVOICES - {"inv_a5"}
    finally:
        provider.close()


def test_a_lost_answer_stays_pending_and_the_next_run_settles_it_once(sync_setup, sync_warehouses, harness,
                                                                      monkeypatch):
    configure(sync_setup, harness)
    with monkeypatch.context() as m:
        harness.lose_next_answer(m, "invoice")
        first = sync_setup.run(sync_warehouses.day1)
    assert first.aborted and "pending" in first.aborted
    pending = {r.orb_id for r in sync_setup.records(status="pending", object_type="invoice")}
    assert pending                                                   # the lost write stays pending ...
    second = sync_setup.run(sync_warehouses.day1)
    assert not second.aborted
    latest = {}
    for r in sorted(sync_setup.records(object_type="invoice"), key=lambda r: r.record_id):
        latest.setdefault(r.orb_id, []).append(r.status)
    for orb_id in pending:                                           # ... and is settled by a lookup, once
        assert latest[orb_id][0] in ("synced", "failed"), latest[orb_id]
    provider = provider_of(sync_setup)
    try:
        assert set(provider.find("invoice", sorted(DAY1_INVOICES))) == DAY1_INVOICES
        receivable = D(0)
        for b in provider.balances(dt.date(2026, 4, 1)):       # a provider may split it per document
            if b.kind == "receivable" and (b.currency, b.customer_orb_id) == ("USD", "cus_acme"):
                receivable += b.amount
    finally:
        provider.close()
    assert receivable == D("200.50")                           # nothing booked twice (README: 200.50)


def test_a_second_sync_started_meanwhile_exits_at_once_writing_nothing(sync_setup, sync_warehouses, harness):
    configure(sync_setup, harness)
    marker = sync_setup.root / "trap.fired"
    env = {**os.environ, "ORBFIN_TRAP": "before_create:1", "ORBFIN_TRAP_MARKER": str(marker)}
    first = subprocess.Popen([sys.executable, str(RUNNER), "sync", "run", "--config", str(sync_setup.config),
                              "--duckdb-path", str(sync_warehouses.day1)], cwd=PROJECT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        records_before = len(sync_setup.records())
        started = time.monotonic()
        second = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
        assert second.returncode == EXIT_BUSY
        assert time.monotonic() - started < 30
        reason = second.stderr.strip()
        assert len(reason.splitlines()) == 1 and f"pid {first.pid}" in reason and "orbfin sync run" in reason
        assert len(sync_setup.records()) == records_before              # it wrote nothing
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    again = sync_setup.run(sync_warehouses.day1)                        # the lock died with its holder
    assert not again.aborted
    provider = provider_of(sync_setup)
    try:
        assert set(provider.find("invoice", sorted(DAY1_INVOICES))) == DAY1_INVOICES
    finally:
        provider.close()


def test_no_secret_leaves_even_when_the_provider_echoes_the_request(sync_setup, sync_warehouses, harness,
                                                                   monkeypatch):
    if not harness.has_secrets:
        pytest.skip(f"{harness.name} has no secrets")
    for name, value in harness.env().items():
        monkeypatch.setenv(name, value)
    echo = EchoServer(status=404)        # e.g. a proxy's error page quoting the request it could not route
    try:
        sync_setup.write(**harness.echoing_settings(echo.url), state_path=str(sync_setup.state))
        run = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
        out = sync_setup.root / "records.csv"
        sync_setup.cli("records", "--csv", str(out))
        # the nightly's own outputs: its terminal line, run.json, the HTML summary
        reports = sync_setup.root / "reports"
        export = PROJECT / "tests/python/sync/fixtures/sync_export/day1"
        nightly = subprocess.run([sys.executable, "-m", "orb_finance.cli", "nightly", "--export-dir", str(export),
                                  "--skip-build", "--duckdb-path", str(sync_warehouses.day1), "--config",
                                  str(sync_setup.config), "--reports-dir", str(reports), "--max-age-hours", "0",
                                  "--as-of", "2026-04-01"], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    finally:
        echo.close()
    secret = harness.secret()
    assert run.returncode != 0
    assert "***" in run.stderr                       # the echoed request was there, masked ...
    assert secret not in run.stdout + run.stderr     # ... and the secret is not
    assert len(run.stderr.strip().splitlines()) == 1
    assert secret not in out.read_text()
    if sync_setup.state.exists():
        assert secret.encode() not in sync_setup.state.read_bytes()
    assert nightly.returncode != 0
    assert secret not in nightly.stdout + nightly.stderr
    written = list((reports / "2026-04-01").rglob("*"))
    assert any(p.name == "run.json" for p in written)
    for path in written:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_secrets_in_a_yaml_error_are_never_printed(tmp_path):
    path = tmp_path / "sync.yml"
    path.write_text("provider: tryton\ntryton:\n  url: http://127.0.0.1:1\n  password_env: 'hunter2-Secret\n")
    with pytest.raises(Exception) as err:
        sync_settings.load(path)
    assert "hunter2" not in str(err.value) and "line" in str(err.value)


def test_the_redaction_rule_masks_every_form_an_echo_takes():
    redact.register("p@ss word/é")
    text = ('{"password": "p@ss word/\\u00e9"} password=p%40ss+word%2F%C3%A9 p%40ss%20word%2F%C3%A9 '
            '<b>p@ss word/é</b>')
    assert redact.redact(text).count("***") == 4 and "p@ss" not in redact.redact(text)
