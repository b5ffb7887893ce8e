"""The NetSuite provider against the local NetSuite sandbox: the hand-written exports book the hand-worked balances
and `orbfin sync reconcile` ties; asynchronous jobs stay `pending` and settle once, through kill -9; a failing job,
a closed period, the concurrency limit, a bad signature and OAuth 2.0; a generated export syncs with no failure and
no duplicate, and a second run writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from orb_finance.sync import engine as sync_engine
from orb_finance.sync.snapshot import snapshot

from .conftest import PROJECT
from .netsuite_support import live_external_ids, netsuite_settings, sandbox_books, start_sandbox

D = Decimal
TRAP_RUNNER = Path(__file__).with_name("netsuite_trap.py")
WRITES = ("PUT", "POST", "PATCH", "DELETE")
DAY1 = {   # fixtures/sync_export/README.md, worked by hand (debit positive)
    ("Accounts Receivable", "USD", "cus_acme"): D("200.50"),
    ("Accounts Receivable", "USD", "cus_cobalt"): D("35.00"),
    ("Customer balances (Orb)", "EUR", "cus_bolt"): D("-59.50"),
    ("Bank USD", "USD", None): D("110.00"),
    ("Bank EUR", "EUR", None): D("357.00"),
    ("Customer balance adjustments (Orb)", "USD", None): D("10.00"),
    ("Revenue", "USD", None): D("-327.50"),             # 397.50 invoiced - 70 credited
    ("Revenue", "EUR", None): D("-250.00"),             # 300 - 50
    ("Sales tax payable", "USD", None): D("-28.00"),
    ("Sales tax payable", "EUR", None): D("-47.50"),
}
DAY2 = {   # + pa_a2 23, inv_a4 voided (its memo cn_a4 deleted), cn_b2 voided, inv_a6 33 (30 + 3 tax)
    ("Accounts Receivable", "USD", "cus_acme"): D("45.50"),
    ("Accounts Receivable", "USD", "cus_cobalt"): D("35.00"),
    ("Bank USD", "USD", None): D("133.00"),
    ("Bank EUR", "EUR", None): D("357.00"),
    ("Customer balance adjustments (Orb)", "USD", None): D("10.00"),
    ("Revenue", "USD", None): D("-207.50"),             # 397.50 + 30 - 200 (inv_a4) - 20 (cn_a2)
    ("Revenue", "EUR", None): D("-300.00"),
    ("Sales tax payable", "USD", None): D("-16.00"),    # 28 + 3 - 20 (inv_a4) + 5 (cn_a4)
    ("Sales tax payable", "EUR", None): D("-57.00"),
}


@pytest.fixture
def sandbox(request):
    return start_sandbox(request)


def configure(sync_setup, sandbox, **extra):
    return sync_setup.write(**netsuite_settings(sandbox, **extra))


def provider_of(sync_setup):
    return sync_engine.SyncEngine(sync_setup.settings()).make_provider()


def writes(sandbox, since: int = 0) -> list[dict]:
    return [e for e in read_log(sandbox)[since:] if e["method"] in WRITES]


def read_log(sandbox) -> list[dict]:
    if sandbox.request_log is None or not sandbox.request_log.exists():
        return []
    return [json.loads(line) for line in sandbox.request_log.read_text().splitlines()]


def latest(sync_setup) -> dict[tuple[str, str], str]:
    out = {}
    for r in sorted(sync_setup.records(), key=lambda r: r.record_id):
        out[(r.object_type, r.orb_id)] = r.status
    return out


def assert_one_record_per_object(sandbox, sync_setup) -> None:
    """Every synced object is exactly one NetSuite record with its Orb id as external id."""
    from orb_finance.sync.providers.netsuite import RECORDS, external_id

    synced = Counter()
    for (otype, orb_id), status in latest(sync_setup).items():
        if status == "synced":
            synced[(RECORDS[otype], external_id(orb_id))] += 1
    for record in set(r for r, _ in synced):
        ids = Counter(live_external_ids(sandbox, record))
        for (rec, eid), n in synced.items():
            if rec == record:
                assert ids[eid] == 1, (record, eid, ids[eid])


# --- the hand-written exports: hand-worked balances, voids, reconcile --------------------------------------

def test_day1_then_day2_book_the_hand_worked_balances_and_reconcile_ties(sync_setup, sync_warehouses, tmp_path,
                                                                         request):
    sandbox = start_sandbox(request, request_log=str(tmp_path / "netsuite.jsonl"))
    configure(sync_setup, sandbox)
    first = sync_setup.run(sync_warehouses.day1)
    assert first.ok, first.failures
    assert first.by_status() == {"customer": {"synced": 3}, "invoice": {"synced": 9}, "credit_memo": {"synced": 3},
                                 "payment": {"synced": 3}, "balance_transaction": {"synced": 1}}
    assert sandbox_books(sandbox) == DAY1
    assert_one_record_per_object(sandbox, sync_setup)
    # the refund Orb put in Bolt's balance: a journal entry moves it from the receivable to the liability and the
    # memo is applied to it; the adjustments are applied to their invoices
    memos = {m["externalId"]: m for m in sandbox.records("creditMemo").values()}
    journals = {j["externalId"]: j for j in sandbox.records("journalEntry").values()}
    assert [a["doc"] for a in memos["cn_b2"]["apply"]] == [journals["cn_b2--xfer"]["id"]]
    assert D(memos["cn_a2"]["apply"][0]["amount"]) == D("22.00")
    reconciled = sync_setup.cli("reconcile", "--duckdb-path", str(sync_warehouses.day1), "--by-customer")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    # a second run has nothing to write
    logged = len(read_log(sandbox))
    again = sync_setup.run(sync_warehouses.day1)
    assert again.ok and again.sent == 0 and again.records_written == 0
    assert writes(sandbox, logged) == []

    second = sync_setup.run(sync_warehouses.day2)
    assert second.ok, second.failures
    actions = sorted((r.object_type, r.orb_id, r.action) for r in sync_setup.records() if r.run_id == second.run_id)
    assert actions == [("credit_memo", "cn_a4", "delete"), ("credit_memo", "cn_b2", "delete"),
                       ("invoice", "inv_a4", "void"), ("invoice", "inv_a6", "create"), ("payment", "pa_a2", "create")]
    assert sandbox_books(sandbox) == DAY2
    # inv_a4 is reversed by a credit memo transformed from it (REST has no void), dated the void and applied to it
    memos_now = {m["externalId"]: m for m in sandbox.records("creditMemo").values()}
    inv_a4 = next(i for i in sandbox.records("invoice").values() if i["externalId"] == "inv_a4")
    void = memos_now[f"inv_a4--void-{inv_a4['id']}"]
    assert void["tranDate"] == "2026-04-02" and void["apply"][0]["doc"] == inv_a4["id"]
    assert "cn_a4" not in memos_now and "cn_b2" not in memos_now and "cn_b2--xfer" not in {
        j["externalId"] for j in sandbox.records("journalEntry").values()}
    reconciled = sync_setup.cli("reconcile", "--duckdb-path", str(sync_warehouses.day2), "--by-customer")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr


def test_a_resynced_invoice_is_reversed_and_created_anew_under_the_same_orb_id(sync_setup, sync_warehouses, sandbox):
    from orb_finance.sync.providers import Removal

    configure(sync_setup, sandbox)
    assert sync_setup.run(sync_warehouses.day1).ok
    provider = provider_of(sync_setup)
    try:
        old = provider.find("invoice", ["inv_a5"])["inv_a5"]
        assert provider.remove("invoice", [Removal("inv_a5", old, dt.date(2026, 4, 2), "resync")])[0].ok
        assert provider.find("invoice", ["inv_a5"]) == {}
        data = sync_engine.load_marts(sync_warehouses.day1)
        from orb_finance.sync import payloads as pl
        customer = provider.find("customer", ["cus_acme"])["cus_acme"]
        payload = pl.invoice_payload(data, data.invoices["inv_a5"], customer)
        out, = provider.create("invoice", [payload])
        assert out.ok and out.provider_id != old
        assert provider.find("invoice", ["inv_a5"]) == {"inv_a5": out.provider_id}
    finally:
        provider.close()
    invoices = {i["id"]: i for i in sandbox.records("invoice").values()}
    assert invoices[old]["externalId"] == f"inv_a5--voided-{old}"          # the voided one freed the Orb id
    # the resync reversal is dated like the invoice, so no period changes; the receivable holds inv_a5 once
    assert {m["tranDate"] for m in sandbox.records("creditMemo").values()
            if m["externalId"] == f"inv_a5--void-{old}"} == {invoices[old]["tranDate"]}
    assert sandbox_books(sandbox)[("Accounts Receivable", "USD", "cus_acme")] == D("200.50")


def test_every_case_of_the_accounting_model_ties(sync_setup, books_warehouses, sandbox):
    """fixtures/books_export: an invoice settled from the customer balance, a refund paid out in cash, a voided
    invoice whose payment Orb keeps as credit... (README there): the hand-worked balances, and reconcile ties."""
    configure(sync_setup, sandbox, item_map={"item_platform": "ITEM-4000", "item_api": "ITEM-4002",
                                             "item_setup": "ITEM-4005"})
    first = sync_setup.run(books_warehouses.day_a)
    assert first.ok, first.failures
    day_a = {("Accounts Receivable", "USD", "cus_dana"): D("22.00"), ("Bank USD", "USD", None): D("326.00"),
             ("Customer balance adjustments (Orb)", "USD", None): D("50.00"),
             ("Revenue", "USD", None): D("-360.00"),          # 440 - 80 credit notes
             ("Sales tax payable", "USD", None): D("-38.00")}
    assert sandbox_books(sandbox) == day_a                  # the customer balance is 0.00
    out = sync_setup.cli("reconcile", "--duckdb-path", str(books_warehouses.day_a), "--by-customer")
    assert out.returncode == 0, out.stdout + out.stderr
    second = sync_setup.run(books_warehouses.day_b)
    assert second.ok, second.failures
    assert sandbox_books(sandbox) == {
        ("Accounts Receivable", "USD", "cus_dana"): D("22.00"), ("Customer balances (Orb)", "USD", "cus_dana"): D("-30.00"),
        ("Bank USD", "USD", None): D("320.50"), ("Customer balance adjustments (Orb)", "USD", None): D("47.40"),
        ("Revenue", "USD", None): D("-325.40"),              # 410.40 - 85 credit notes
        ("Sales tax payable", "USD", None): D("-34.50")}
    # paid:inv_d6 was settled from the balance: a journal entry (liability to receivable) used by a payment of 0
    payment = next(p for p in sandbox.records("customerPayment").values() if p["externalId"] == "paid-3ainv_d6")
    journal = next(j for j in sandbox.records("journalEntry").values() if j["externalId"] == "paid-3ainv_d6--bal")
    assert D(payment["payment"]) == 0 and payment["credit"][0]["doc"] == journal["id"]
    out = sync_setup.cli("reconcile", "--duckdb-path", str(books_warehouses.day_b), "--by-customer")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tie to the warehouse as of 2026-06-01" in out.stdout


# --- asynchronous writes: pending, settled once, through kill -9 ---------------------------------------------

def run_until_killed(sync_setup, duckdb: Path, trap: str, timeout: float = 120) -> None:
    marker = sync_setup.root / "trap.fired"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "ORBFIN_TRAP": trap, "ORBFIN_TRAP_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, str(TRAP_RUNNER), "sync", "run", "--config", str(sync_setup.config),
                             "--duckdb-path", str(duckdb)], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the trap fired:\n{proc.stdout.read()}")
            assert time.monotonic() < deadline, "the trap never fired"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_async_jobs_stay_pending_and_settle_once_through_kill_9(sync_setup, sync_warehouses, sandbox):
    configure(sync_setup, sandbox, **{"async": True, "concurrency": 1})
    first = sync_setup.run(sync_warehouses.day1)
    assert first.ok and first.by_status()["customer"] == {"pending": 3}
    pending = sync_setup.records(status="pending")
    assert {r.orb_id for r in pending} == {"cus_acme", "cus_bolt", "cus_cobalt"}
    assert all(r.pending_ref and r.pending_ref in sandbox.state["jobs"] for r in pending)   # each with its job id
    report = snapshot(settings=sync_setup.settings())
    assert sorted(p["orb_id"] for p in report.pending) == ["cus_acme", "cus_bolt", "cus_cobalt"]
    assert all(p["pending_ref"] for p in report.pending)
    assert sandbox.records("customer") == {}                 # nothing in NetSuite before the jobs run
    time.sleep(0.3)                                           # the sandbox's jobs complete after 0.2 s
    # the next run settles the customers, sends the invoices and is killed after the third one reached NetSuite
    run_until_killed(sync_setup, sync_warehouses.day1, "after_put:invoice:3")
    assert latest(sync_setup)[("customer", "cus_acme")] == "synced"
    stuck = {r.orb_id: r.record_id for r in sync_setup.records(status="pending", object_type="invoice")}
    assert len(stuck) == 9 and all(r.pending_ref is None for r in sync_setup.records(status="pending"))
    assert len(sandbox.state["jobs"]) == 3 + 3
    for _ in range(6):                                        # invoices; memos, payments, balance entry; settled
        time.sleep(0.3)
        result = sync_setup.run(sync_warehouses.day1)
        assert not result.aborted and not result.failures
        if not sync_setup.records(status="pending"):
            break
    assert set(latest(sync_setup).values()) == {"synced"} and len(latest(sync_setup)) == 19
    # every interrupted record was settled once, in place: no second attempt for those invoices
    for orb_id, record_id in stuck.items():
        assert [(r.record_id, r.status) for r in sync_setup.records(orb_id=orb_id)] == [(record_id, "synced")]
    assert_one_record_per_object(sandbox, sync_setup)
    assert sandbox_books(sandbox) == DAY1


def test_a_failing_job_fails_its_record_with_netsuites_code_and_detail(sync_setup, sync_warehouses, sandbox):
    configure(sync_setup, sandbox, **{"async": True, "async_wait": 5}, item_map={
        "item_platform": "ITEM-4000", "item_seats": "ITEM-4001", "item_api": "ITEM-4002", "item_support": "999"})
    first = sync_setup.run(sync_warehouses.day1)       # waits for its jobs: each type settled before its dependents
    assert first.by_status()["customer"] == {"synced": 3}
    failed = {r.orb_id: r for r in sync_setup.records(status="failed")}
    # inv_a5 and inv_c1 bill the support item, mapped to an item NetSuite does not have: their jobs fail
    assert set(failed) == {"inv_a5", "inv_c1"}
    assert "INVALID_KEY_OR_REF" in failed["inv_a5"].error and "item" in failed["inv_a5"].error
    assert "asynchronous job" in failed["inv_a5"].error
    assert sorted(live_external_ids(sandbox, "invoice")) == sorted(
        ["inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_b1", "inv_b2", "inv_c2"])


# --- errors and limits ------------------------------------------------------------------------------------

def test_a_closed_period_fails_the_record_naming_the_period_until_it_is_reopened(sync_setup, sync_warehouses,
                                                                                request):
    sandbox = start_sandbox(request, closed_periods=("2026-01",))
    configure(sync_setup, sandbox)
    first = sync_setup.run(sync_warehouses.day1)
    failed = {r.orb_id: r.error for r in sync_setup.records(status="failed")}
    # January 2026: inv_a1 (01-05), inv_b1 (01-15), inv_c2 (01-25), cbt_a0 (01-10); pa_a1 would follow inv_a1
    assert set(failed) == {"inv_a1", "inv_b1", "inv_c2", "cbt_a0"}
    assert "NetSuite accounting period Jan 2026 is closed" in failed["inv_a1"]
    assert "2026-01-05" in failed["inv_a1"] and "Action Needed" in failed["inv_a1"]
    assert ("payment", "pa_a1") not in latest(sync_setup)       # waits for its invoice (skipped, not failed)
    assert first.by_status()["invoice"]["synced"] == 6
    sandbox.configure(closed_periods=[])
    assert sync_setup.cli("retry", "--all-failed").returncode == 0
    again = sync_setup.run(sync_warehouses.day1)
    assert again.ok, again.failures
    assert set(latest(sync_setup).values()) == {"synced"}
    assert sandbox_books(sandbox) == DAY1


def test_the_concurrency_limit_answers_429_and_the_sync_backs_off(sync_setup, sync_warehouses, tmp_path, request):
    sandbox = start_sandbox(request, concurrency_limit=1, latency=0.02, request_log=str(tmp_path / "ns.jsonl"))
    configure(sync_setup, sandbox, concurrency=4, retries=12)
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok, (result.aborted, result.failures)
    busy = [e for e in read_log(sandbox) if e["status"] == 429]
    assert busy and sandbox.refused_busy == len(busy)
    assert busy[0]["response_body"]["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert sandbox.peak_in_flight == 1
    assert sandbox_books(sandbox) == DAY1
    assert_one_record_per_object(sandbox, sync_setup)


def test_a_bad_signature_is_refused_as_netsuite_does_and_names_the_credentials(sync_setup, sync_warehouses, tmp_path,
                                                                               request, monkeypatch):
    sandbox = start_sandbox(request, request_log=str(tmp_path / "ns.jsonl"))
    configure(sync_setup, sandbox)
    monkeypatch.setenv("NETSUITE_TOKEN_SECRET", "0" * 64)     # the wrong token secret: every signature is wrong
    run = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
    assert run.returncode != 0
    message = run.stderr.strip()
    assert "INVALID_LOGIN" in message and "NETSUITE_TOKEN_SECRET" in message and "NETSUITE_CONSUMER_KEY" in message
    log = read_log(sandbox)
    assert len(log) == 1 and log[0]["status"] == 401              # final: not repeated
    assert log[0]["response_body"]["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert sandbox.records("customer") == {}
    # oauthlib's own client, signing as NetSuite documents: right secrets pass, a replayed nonce does not
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

    creds = sandbox.credentials()
    client = Client(creds["NETSUITE_CONSUMER_KEY"], client_secret=creds["NETSUITE_CONSUMER_SECRET"],
                    resource_owner_key=creds["NETSUITE_TOKEN_ID"], resource_owner_secret=creds["NETSUITE_TOKEN_SECRET"],
                    signature_method=SIGNATURE_HMAC_SHA256, realm="1234567_SB1")
    url = f"{sandbox.url}/services/rest/record/v1/customer?limit=5"
    _, headers, _ = client.sign(url, http_method="GET")
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.get(url, headers=headers).status_code == 401      # the same nonce and timestamp again
    _, headers, _ = client.sign(url + "0", http_method="GET")      # signed for another query string
    assert httpx.get(url, headers=headers).status_code == 401


def test_oauth2_client_credentials_sync_and_a_wrong_key_is_refused(sync_setup, sync_warehouses, tmp_path, request,
                                                                   monkeypatch):
    sandbox = start_sandbox(request, request_log=str(tmp_path / "ns.jsonl"))
    configure(sync_setup, sandbox, auth="oauth2")
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok, (result.aborted, result.failures)
    tokens = [e for e in read_log(sandbox) if e["path"].endswith("/auth/oauth2/v1/token")]
    assert len(tokens) == 1 and tokens[0]["status"] == 200
    assert tokens[0]["response_body"]["access_token"] == "***"          # the request log never holds a token
    assert sandbox_books(sandbox) == DAY1
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    monkeypatch.setenv("NETSUITE_PRIVATE_KEY", other)
    run = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day2))
    assert run.returncode != 0
    assert "OAuth 2.0 client credentials" in run.stderr and "NETSUITE_PRIVATE_KEY" in run.stderr
    assert "invalid_client" in run.stderr


# --- a generated export ---------------------------------------------------------------------------------------

def item_map_for(warehouse: Path) -> dict[str, str]:
    """NetSuite items (the sandbox's, by external id) for the Orb items that name none in their connections."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        items = con.execute("select item_id, external_connections from marts.sync_items order by item_id").fetchall()
    finally:
        con.close()
    unmapped = [i for i, conn in items if '"netsuite"' not in (conn or "")]
    assert unmapped and len(unmapped) < len(items)       # some items name a NetSuite item in Orb, others do not
    return {item: f"ITEM-{4020 + n}" for n, item in enumerate(unmapped)}


@pytest.mark.slow
def test_a_generated_export_syncs_with_no_failure_and_no_duplicate_and_a_second_run_writes_nothing(
        sync_setup, dbt_builder, tmp_path, request):
    """A small generated export (several currencies; items partly mapped to NetSuite in Orb): every object once,
    nothing left pending or failed, a second run writes nothing, and reconcile ties."""
    from rich.console import Console

    from orb_finance.exports.generate import generate_sample

    from .conftest import SELECT

    generate_sample(tmp_path / "export", customers=12, months=4, seed=5, console=Console(quiet=True))
    warehouse = tmp_path / "w.duckdb"
    built = dbt_builder.build(tmp_path / "export", select=SELECT, as_of="2026-10-31", keep_as=warehouse)
    assert built.success, built.reason()
    sandbox = start_sandbox(request, request_log=str(tmp_path / "ns.jsonl"))
    configure(sync_setup, sandbox, item_map=item_map_for(warehouse), concurrency=3)
    result = sync_setup.run(warehouse)
    assert result.ok, (result.aborted, result.failures[:3])
    counts = result.by_status()
    assert counts["invoice"]["synced"] > 30 and counts["payment"]["synced"] > 10
    assert set(latest(sync_setup).values()) == {"synced"}
    assert_one_record_per_object(sandbox, sync_setup)
    # lines carry the Orb item's NetSuite item (by its external id) and the service period, end inclusive
    line = next(l for i in sandbox.records("invoice").values() for l in i["item"] if l.get("revRecEndDate"))
    assert line["revRecStartDate"] <= line["revRecEndDate"]
    logged = len(read_log(sandbox))
    again = sync_setup.run(warehouse)
    assert again.ok and again.sent == 0 and again.records_written == 0
    assert writes(sandbox, logged) == []
    out = sync_setup.cli("reconcile", "--duckdb-path", str(warehouse))
    assert out.returncode == 0, out.stdout + out.stderr


# --- the sandbox itself ---------------------------------------------------------------------------------------

def signed_client(sandbox) -> httpx.Client:
    """An httpx client signing with the provider's TokenAuth (oauthlib), for talking to the sandbox directly."""
    from orb_finance.sync.providers.netsuite import TokenAuth

    creds = sandbox.credentials()
    auth = TokenAuth("1234567_SB1", creds["NETSUITE_CONSUMER_KEY"], creds["NETSUITE_CONSUMER_SECRET"],
                     creds["NETSUITE_TOKEN_ID"], creds["NETSUITE_TOKEN_SECRET"], lambda: "refused")

    def sign(request: httpx.Request) -> None:
        auth.apply(request)
    return httpx.Client(base_url=sandbox.url, event_hooks={"request": [sign]},
                        headers={"X-NetSuite-PropertyNameValidation": "Error"})


def test_the_sandbox_upserts_by_external_id_with_netsuites_sublist_rules(sandbox):
    with signed_client(sandbox) as client:
        put = client.put("/services/rest/record/v1/customer/eid:cus_x", json={"companyName": "X", "currency": {"id": "1"}})
        assert put.status_code == 204
        customer = put.headers["location"].rsplit("/", 1)[1]
        assert put.headers["location"] == f"{sandbox.url}/services/rest/record/v1/customer/{customer}"
        body = {"entity": {"id": customer}, "tranDate": "2026-03-01",
                "item": {"items": [{"item": {"externalId": "ITEM-4000"}, "amount": 10},
                                   {"item": {"id": "301"}, "amount": 5.5}]}}
        first = client.put("/services/rest/record/v1/invoice/eid:inv_x", json=body)
        invoice = first.headers["location"].rsplit("/", 1)[1]
        amounts = lambda: [l["amount"] for l in sandbox.records("invoice")[invoice]["item"]]
        assert client.put("/services/rest/record/v1/invoice/eid:inv_x", json=body).status_code == 204
        assert amounts() == ["10", "5.5", "10", "5.5"]               # a non-keyed sublist is appended to ...
        again = client.put("/services/rest/record/v1/invoice/eid:inv_x", params={"replace": "item"}, json=body)
        assert again.headers["location"].endswith(f"/invoice/{invoice}")
        assert amounts() == ["10", "5.5"]                            # ... unless replace=item
        read = client.get("/services/rest/record/v1/invoice/eid:inv_x", params={"expandSubResources": "true"}).json()
        assert read["total"] == 15.5 and read["entity"]["id"] == customer
        assert read["item"]["items"][0]["item"] == {"id": "300", "refName": "Service 4000"}
        bad = client.put("/services/rest/record/v1/invoice/eid:inv_y", json={**body, "colour": "red"})
        assert bad.status_code == 400
        assert bad.json()["o:errorDetails"][0]["o:errorPath"] == "colour"
        page = client.post("/services/rest/query/v1/suiteql", params={"limit": 1}, headers={"Prefer": "transient"},
                           json={"q": "SELECT id, symbol FROM currency WHERE symbol IN ('EUR', 'USD') ORDER BY id"})
        assert page.json()["items"] == [{"id": "1", "symbol": "USD", "links": []}]
        assert page.json()["hasMore"] is True and page.json()["totalResults"] == 2


def test_the_sandbox_cli_writes_settings_and_credentials_that_sync_in_three_commands(tmp_path, sync_warehouses):
    """`orbfin sync sandbox netsuite --settings-out FILE`, `source FILE.env`, `orbfin sync run --config FILE`."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings, log = tmp_path / "netsuite.yml", tmp_path / "netsuite-requests.jsonl"
    server = subprocess.Popen([sys.executable, "-m", "orb_finance.cli", "sync", "sandbox", "netsuite", "--port",
                               str(port), "--dir", str(tmp_path / "state"), "--request-log", str(log),
                               "--settings-out", str(settings)], cwd=PROJECT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        env_file = Path(str(settings) + ".env")
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.2)
        run = subprocess.run(["bash", "-c", f"source {env_file} && {sys.executable} -m orb_finance.cli sync run "
                              f"--config {settings} --duckdb-path {sync_warehouses.day1}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries and all(set(e) >= {"method", "path", "request_body", "status", "response_body"} for e in entries)
    assert any(e["method"] == "PUT" and e["status"] == 204 for e in entries)
    secrets_ = [line.split("=", 1)[1].strip("'") for line in env_file.read_text().splitlines()
                if line.startswith("export ") and "PRIVATE_KEY" not in line]
    text = log.read_text() + settings.read_text()
    assert secrets_ and not any(s in text for s in secrets_)
    assert (tmp_path / "state" / "netsuite-sandbox.json").exists()      # the state survives a restart
    from orb_finance.sync import state

    with state.StateStore(tmp_path / "netsuite_sandbox_sync_state.sqlite") as store:
        statuses = Counter(h.latest.status for h in store.histories("netsuite").values())
    assert statuses == {"synced": 19}


def test_settings_refuse_warehouse_revenue_recognition_and_name_missing_credentials(tmp_path, monkeypatch):
    from orb_finance.errors import OrbFinanceError
    from orb_finance.sync import settings as sync_settings

    monkeypatch.setenv("NETSUITE_CONSUMER_KEY", "ck-1234")
    for name in ("NETSUITE_CONSUMER_SECRET", "NETSUITE_TOKEN_ID", "NETSUITE_TOKEN_SECRET"):
        monkeypatch.setenv(name, "value-1234")
    raw = {"provider": "netsuite", "netsuite": {"account_id": "1234567_SB1"}}
    assert sync_settings.from_mapping(dict(raw)).provider_settings["auth"] == "tba"
    with pytest.raises(OrbFinanceError, match="NetSuite recognizes revenue itself"):
        sync_settings.from_mapping({**raw, "revenue_recognition": "warehouse"})
    monkeypatch.delenv("NETSUITE_TOKEN_SECRET")
    with pytest.raises(OrbFinanceError, match="NETSUITE_TOKEN_SECRET"):
        sync_settings.from_mapping(dict(raw))
    with pytest.raises(OrbFinanceError, match="consumer_secret.*consumer_secret_env"):
        sync_settings.from_mapping({"provider": "netsuite", "netsuite": {"account_id": "1", "consumer_secret": "x"}})


def test_orb_ids_become_netsuite_external_ids_and_back():
    from orb_finance.sync.providers.netsuite import external_id, orb_id_of

    assert external_id("inv_Ab9") == "inv_Ab9"
    assert external_id("paid:inv_b1") == "paid-3ainv_b1"            # NetSuite allows letters, digits, _ and -
    assert external_id("a-b") == "a-2db"
    for orb_id in ("paid:inv_b1", "a-b", "x--void-1", "é€/ü"):
        eid = external_id(orb_id)
        assert orb_id_of(eid) == orb_id and "--" not in eid
