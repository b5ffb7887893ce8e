"""The quickbooks provider against the local QuickBooks sandbox (a real HTTP server on 127.0.0.1): the hand-written
export's books tie to the figures worked out in fixtures/sync_export/README.md; a generated export syncs with zero
failures and every request body the provider sent validates against Intuit's XSD; kill -9 mid-run, expiring access
tokens, a 429 storm and a lost answer leave every object exactly once (counted by querying the sandbox).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter
from decimal import Decimal

import pytest

from orb_finance.errors import OrbFinanceError
from orb_finance.sync import engine as sync_engine
from orb_finance.sync import reconcile as rc
from orb_finance.sync import settings as sync_settings
from orb_finance.sync.sandbox import Fault
from orb_finance.sync.sandbox.quickbooks import scripted

from . import qbo_xsd
from .conftest import books_fixture_ties
from .qbo import qbo_settings
from .test_crash_recovery import run_until_killed

D = Decimal


def books(setup, on: dt.date) -> dict[tuple, Decimal]:
    """{(kind, currency, Orb customer): amount} as the provider reads QuickBooks back (per-invoice lines summed)."""
    provider = sync_engine.SyncEngine(setup.settings()).make_provider()
    try:
        out: dict[tuple, Decimal] = {}
        for b in provider.balances(on):
            key = (b.kind, b.currency, b.customer_orb_id)
            out[key] = out.get(key, D(0)) + b.amount
        return {k: v for k, v in out.items() if v}
    finally:
        provider.close()


def per_orb_id(sandbox, entity: str) -> Counter:
    """How many live QuickBooks objects of `entity` carry each Orb id (voided ones left out)."""
    count: Counter = Counter()
    for row in sandbox.entities(entity):
        text = row.get("Notes") if entity == "Customer" else row.get("PrivateNote")
        if entity != "Customer" and str(text or "").startswith("Voided"):
            continue
        for word in str(text or "").split():
            if word.startswith("orb:"):
                count[word[4:]] += 1
    return count


def assert_day1_once(sandbox) -> None:
    assert per_orb_id(sandbox, "Customer") == Counter({"cus_acme": 1, "cus_bolt": 1, "cus_cobalt": 1})
    invoices = per_orb_id(sandbox, "Invoice")
    assert set(invoices) == {"inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c1",
                             "inv_c2"} and set(invoices.values()) == {1}
    assert per_orb_id(sandbox, "CreditMemo") == Counter({"cn_a2": 1, "cn_a4": 1, "cn_b2": 1})
    # three payments, and the zero-amount payments applying the two adjustment memos to their invoices
    assert per_orb_id(sandbox, "Payment") == Counter({"pa_a1": 1, "pa_b2": 1, "paid:inv_b1": 1, "link:cn_a2": 1,
                                                      "link:cn_a4": 1})
    assert per_orb_id(sandbox, "JournalEntry") == Counter({"cbt_a0": 1})


DAY1_BOOKS = {   # fixtures/sync_export/README.md, worked by hand
    ("receivable", "USD", "cus_acme"): D("200.50"), ("receivable", "USD", "cus_cobalt"): D("35"),
    ("customer_balance", "EUR", "cus_bolt"): D("59.50"), ("balance_adjustments", "USD", None): D("10"),
    ("cash", "USD", None): D("110"), ("cash", "EUR", None): D("357"),
    ("revenue", "USD", None): D("397.50"), ("revenue", "EUR", None): D("300"),
    ("credit_notes", "USD", None): D("70"), ("credit_notes", "EUR", None): D("50"),
    ("tax", "USD", None): D("28"), ("tax", "EUR", None): D("47.50")}


def test_day1_then_day2_books_tie_to_the_hand_worked_figures(sync_setup, sync_warehouses, qbo_sandbox):
    sync_setup.write(**qbo_settings(qbo_sandbox))
    run1 = sync_setup.run(sync_warehouses.day1)
    assert run1.by_status() == {"customer": {"synced": 3}, "invoice": {"synced": 9}, "credit_memo": {"synced": 3},
                                "payment": {"synced": 3}, "balance_transaction": {"synced": 1}}
    assert_day1_once(qbo_sandbox)
    assert books(sync_setup, dt.date(2026, 4, 1)) == DAY1_BOOKS
    # the receivable read back is what QuickBooks itself reports as Customer.Balance
    assert {c["DisplayName"]: c["Balance"] for c in qbo_sandbox.entities("Customer")} == {
        "Acme Corp": D("200.50"), "Bolt GmbH": D("0"), "Cobalt Labs, Inc.": D("35")}
    invoices = {i["PrivateNote"].split()[0]: i for i in qbo_sandbox.entities("Invoice")}
    assert invoices["orb:inv_a2"]["Balance"] == D("23")           # 45 due - cn_a2 22 applied
    # Orb's number is 38 characters, QuickBooks takes 21: its first 13, a dash, 7 of the Orb id's sha256
    assert invoices["orb:inv_a5"]["DocNumber"] == '=HYPERLINK("h-' + hashlib.sha256(b"inv_a5").hexdigest()[:7]

    run2 = sync_setup.run(sync_warehouses.day2)
    assert run2.ok
    day2 = books(sync_setup, dt.date(2026, 4, 10))
    assert day2[("receivable", "USD", "cus_acme")] == D("45.50")       # inv_a5 12.50 + inv_a6 33
    assert ("customer_balance", "EUR", "cus_bolt") not in day2          # cn_b2 voided: back to 0
    assert day2[("revenue", "USD", None)] == D("227.50")                # 397.50 - inv_a4's 200 + inv_a6's 30
    assert day2[("credit_notes", "USD", None)] == D("20") and ("credit_notes", "EUR", None) not in day2
    voided_a4 = next(i for i in qbo_sandbox.entities("Invoice") if "orb:inv_a4" in i["PrivateNote"])
    assert voided_a4["PrivateNote"].startswith("Voided") and voided_a4["TotalAmt"] == 0
    assert "cn_a4" not in per_orb_id(qbo_sandbox, "CreditMemo") and "link:cn_a4" not in per_orb_id(qbo_sandbox,
                                                                                                     "Payment")
    assert sync_setup.run(sync_warehouses.day2).sent == 0


def test_every_case_of_the_books_fixture_ties_in_quickbooks(sync_setup, books_warehouses, qbo_sandbox):
    """fixtures/books_export in the sandbox: day A then day B (a balance-settled payment, a refund paid out, a
    voided invoice's payment kept as credit...), and reconcile ties to ar_aging and customer_balances after each
    (the hand-worked receivable 22.00 and customer balance 0.00 / 30.00 per its README)."""
    sync_setup.write(**qbo_settings(qbo_sandbox))
    books_fixture_ties(sync_setup, books_warehouses)
    dana, = qbo_sandbox.entities("Customer")
    assert dana["Balance"] == D("22")                                  # QuickBooks' own open receivable
    assert books(sync_setup, dt.date(2026, 6, 1))[("cash", "USD", None)] == D("320.50")


def test_an_unmapped_item_fails_its_invoice_and_only_that(sync_setup, sync_warehouses, qbo_sandbox):
    settings = qbo_settings(qbo_sandbox)
    del settings["quickbooks"]["item_map"]["item_support"]
    sync_setup.write(**settings)
    run = sync_setup.run(sync_warehouses.day1)
    failed = {r.orb_id: r.error for r in run.failures}
    assert set(failed) == {"inv_a5", "inv_c1"}                         # the two invoices with a support line
    assert "Orb item item_support" in failed["inv_a5"] and "quickbooks.item_map" in failed["inv_a5"]
    assert run.by_status()["invoice"] == {"synced": 7, "failed": 2}


def test_intuits_faults_fail_the_record_with_code_and_message(sync_setup, sync_warehouses, qbo_sandbox):
    import httpx
    httpx.post(f"{qbo_sandbox.url}/_sandbox/company", json={"closed_through": "2026-01-10"})
    sync_setup.write(**qbo_settings(qbo_sandbox))
    run = sync_setup.run(sync_warehouses.day1)
    failed = {r.orb_id: r.error for r in run.failures}
    # inv_c1 (2025-12-20), inv_a1 (2026-01-05) and the goodwill entry (2026-01-10) fall in the closed period
    assert set(failed) == {"inv_c1", "inv_a1", "cbt_a0"}
    assert failed["inv_a1"].startswith("QuickBooks 6210 Account Period Closed")


def test_a_customer_made_by_hand_with_the_same_name_is_adopted_not_duplicated(sync_setup, sync_warehouses,
                                                                               qbo_sandbox):
    with qbo_sandbox.lock:
        qbo_sandbox.state["entities"]["Customer"]["7"] = {
            "Id": "7", "SyncToken": "0", "DisplayName": "Acme Corp", "Active": True, "Notes": "key account",
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}
    sync_setup.write(**qbo_settings(qbo_sandbox))
    run = sync_setup.run(sync_warehouses.day1)
    assert run.ok
    acme = [c for c in qbo_sandbox.entities("Customer") if c["DisplayName"] == "Acme Corp"]
    assert [(c["Id"], c["Notes"], c["SyncToken"]) for c in acme] == [("7", "key account orb:cus_acme", "1")]
    assert {r.orb_id: r.provider_id for r in sync_setup.records(object_type="customer")}["cus_acme"] == "7"


def test_expiring_tokens_and_a_429_storm_leave_every_object_once(sync_setup, sync_warehouses, monkeypatch):
    from orb_finance.sync.sandbox.quickbooks import QuickBooksSandbox
    from .qbo import env_names

    sandbox = QuickBooksSandbox(access_token_ttl=0.3, refresh_grace=0, per_second=250, per_minute=25000,
                                batch_per_minute=2500,
                                faults=scripted("throttled", 6) + scripted("unauthorized", 1, match="/query")).start()
    try:
        for name, value in env_names(sandbox).items():
            monkeypatch.setenv(name, value)
        first_token = sandbox.credentials()["QBO_REFRESH_TOKEN"]
        sync_setup.write(**qbo_settings(sandbox, batch=False))
        run = sync_setup.run(sync_warehouses.day1)
        assert run.ok, run.aborted or run.failures
        assert_day1_once(sandbox)
        assert sandbox.token_requests >= 3                  # refreshed on 401s all along the run
        # the newest refresh token is in the state store; the first one (from the environment) is spent
        from orb_finance.sync.state import StateStore
        with StateStore(sync_setup.state) as store:
            kept = json.loads(store.get_meta(f"quickbooks:{sandbox.realm}:refresh_token"))["token"]
        assert kept == sandbox.credentials()["QBO_REFRESH_TOKEN"] != first_token
        again = sync_setup.run(sync_warehouses.day1)        # starts from the kept token, not the spent one
        assert again.ok and again.sent == 0
    finally:
        sandbox.stop()


def test_a_lost_answer_is_looked_up_and_settled_within_the_run(sync_setup, sync_warehouses, qbo_sandbox):
    qbo_sandbox.faults += [Fault(r"^POST /v3/company/\d+/invoice$", kind="commit_then_drop"),
                           Fault(r"^POST /v3/company/\d+/invoice$", status=502, body="Bad gateway", count=1,
                                 content_type="text/html")]
    sync_setup.write(**qbo_settings(qbo_sandbox, batch=False))
    run = sync_setup.run(sync_warehouses.day1)
    assert run.ok
    assert_day1_once(qbo_sandbox)


def test_killed_mid_run_then_rerun_leaves_every_object_once(sync_setup, sync_warehouses, qbo_sandbox):
    sync_setup.write(**qbo_settings(qbo_sandbox))
    # killed right after the batch of invoices was answered: in QuickBooks, not yet recorded
    run_until_killed(sync_setup, sync_warehouses.day1, "after_request:/batch$:2")
    assert {r.status for r in sync_setup.records(object_type="invoice")} == {"pending"}
    assert len(per_orb_id(qbo_sandbox, "Invoice")) == 9
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    assert_day1_once(qbo_sandbox)
    assert books(sync_setup, dt.date(2026, 4, 1)) == DAY1_BOOKS


def test_revenue_recognition_from_the_warehouse_is_refused_with_the_way_to_do_it(sync_setup, qbo_sandbox):
    sync_setup.write(**qbo_settings(qbo_sandbox), revenue_recognition="warehouse")
    with pytest.raises(OrbFinanceError) as err:
        sync_settings.load(sync_setup.config)
    assert "orbfin journal export" in str(err.value) and "deferred revenue" in str(err.value)


def test_intuits_own_oauth_client_refreshes_against_the_sandbox(qbo_sandbox):
    from intuitlib.client import AuthClient

    creds = qbo_sandbox.credentials()
    client = AuthClient(creds["QBO_CLIENT_ID"], creds["QBO_CLIENT_SECRET"], "http://localhost/callback",
                        f"{qbo_sandbox.url}/.well-known/openid_configuration")
    client.refresh(refresh_token=creds["QBO_REFRESH_TOKEN"])
    assert client.access_token and client.refresh_token == qbo_sandbox.credentials()["QBO_REFRESH_TOKEN"]


# --- a generated export, checked against Intuit's schema ------------------------------------------------

@pytest.fixture(scope="session")
def generated_warehouse(dbt_builder, tmp_path_factory):
    from orb_finance.exports.generate import generate_sample
    from rich.console import Console

    from .conftest import SELECT

    root = tmp_path_factory.mktemp("qbo_generated")
    generate_sample(root / "export", customers=12, months=3, seed=5, console=Console(quiet=True))
    built = dbt_builder.build(root / "export", select=SELECT, as_of="2026-10-31", keep_as=root / "generated.duckdb")
    assert built.success, built.reason()
    return root / "generated.duckdb"


@pytest.fixture(scope="module")
def generated_sync(generated_warehouse, tmp_path_factory):
    """The generated export synced twice into a sandbox of its own, reconciled, with the provider's request log."""
    from orb_finance.sync.sandbox.quickbooks import QuickBooksSandbox

    from .conftest import SyncSetup
    from .qbo import env_names

    root = tmp_path_factory.mktemp("qbo_generated_sync")
    sandbox = QuickBooksSandbox(per_second=250, per_minute=25000, batch_per_minute=2500).start()
    saved = dict(os.environ)
    try:
        os.environ.update(env_names(sandbox))
        import duckdb
        con = duckdb.connect(str(generated_warehouse), read_only=True)
        items = [r[0] for r in con.execute("select item_id from marts.sync_items order by item_id").fetchall()]
        con.close()
        # every Orb item mapped: the sample's own 'quickbooks' connections cover half of them
        settings = qbo_settings(sandbox, item_map={i: str(100 + n % 9) for n, i in enumerate(items)})
        settings["quickbooks"]["request_log"] = str(root / "provider-requests.jsonl")
        setup = SyncSetup(root)
        setup.write(**settings)
        first = setup.run(generated_warehouse)
        second = setup.run(generated_warehouse)
        report = rc.reconcile(setup.settings(), generated_warehouse, by_customer=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sandbox.stop()
    return first, second, report, root / "provider-requests.jsonl"


def test_a_generated_export_syncs_whole_once_and_ties(generated_sync):
    first, second, report, _ = generated_sync
    assert first.ok, (first.aborted, first.failures[:3])
    assert first.records_written > 50
    assert second.sent == 0                                            # a second run writes nothing
    assert report.ok, [rc.describe(l) for l in report.differences + report.customers if l.status == rc.DIFFERS][:5]
    assert len({l.currency for l in report.lines}) >= 2


def test_every_request_of_the_generated_sync_matches_intuits_schema(generated_sync):
    qbo_xsd.schema_or_skip()
    exchanges = [json.loads(line) for line in generated_sync[3].read_text().splitlines()]
    bodies = [e for e in exchanges if "/v3/company/" in e["path"] and e["method"] == "POST"
              and isinstance(e["request_body"], dict)]
    assert len(bodies) > 10
    for e in bodies:
        assert qbo_xsd.request_errors(e["path"], e["request_body"]) == [], e["path"]
    for e in exchanges:                         # and every answer the sandbox gave to the API is an IntuitResponse
        if "/v3/company/" in e["path"] and isinstance(e["response_body"], dict):
            assert qbo_xsd.response_errors(e["response_body"]) == [], e["path"]


def test_the_schema_check_catches_what_intuit_would_not_read():
    qbo_xsd.schema_or_skip()
    good = {"CustomerRef": {"value": "58"}, "TxnDate": "2026-02-01", "Line": [
        {"DetailType": "SalesItemLineDetail", "Amount": 100, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}
    assert qbo_xsd.errors("Invoice", good) == []
    assert qbo_xsd.errors("Invoice", {**good, "TxnDate": "01/02/2026"})                       # not an xs:date
    assert qbo_xsd.errors("Invoice", {**good, "Lines": good["Line"]})                         # an unknown element
    assert qbo_xsd.errors("Invoice", {**good, "Line": [{**good["Line"][0], "DetailType": "SalesItemLine"}]})


def test_a_voided_invoice_with_a_memo_and_a_payment_leaves_nothing_open(qbo_sandbox):
    from orb_finance.sync.payloads import CreditMemoPayload, CustomerPayload, InvoicePayload, LinePayload, PaymentPayload
    from orb_finance.sync.providers import Removal
    from orb_finance.sync.providers.quickbooks import QuickBooksProvider

    provider = QuickBooksProvider(qbo_settings(qbo_sandbox)["quickbooks"])
    day = dt.date(2026, 3, 1)
    try:
        cus, = provider.create("customer", [CustomerPayload("cus_v", "Void Co", "USD")])
        line = LinePayload("il_1", "Platform", D("3"), D("100.00"), D("10.00"), item_id="item_platform")
        inv, = provider.create("invoice", [InvoicePayload("inv_v", "V-1", "cus_v", cus.provider_id, "Void Co", "USD",
                                                          day, None, D("110"), D("110"), D("0"), D("0"), (line,))])
        memo_line = LinePayload("cl_1", "Platform", D("1"), D("20.00"), D("2.00"), item_id="item_platform")
        memo, = provider.create("credit_memo", [CreditMemoPayload(
            "cn_v", "CN-V", "inv_v", inv.provider_id, "V-1", "cus_v", cus.provider_id, "Void Co", "USD", day,
            "adjustment", None, D("20"), D("2"), D("22"), (memo_line,))])
        pay, = provider.create("payment", [PaymentPayload("pa_v", "inv_v", inv.provider_id, "V-1", "cus_v",
                                                          cus.provider_id, "Void Co", "USD", day, D("50"), "payment_attempt")])
        assert [o.ok for o in (cus, inv, memo, pay)] == [True] * 4
        invoice = next(i for i in qbo_sandbox.entities("Invoice") if i["Id"] == inv.provider_id)
        assert invoice["Balance"] == D("38")                       # 110 - 22 credited - 50 paid
        # Orb voids the invoice: its payment is reversed and its memo deleted first, then the invoice voided
        for otype, out in (("payment", pay), ("credit_memo", memo), ("invoice", inv)):
            assert [o.ok for o in provider.remove(otype, [Removal(out.orb_id, out.provider_id, day, "void")])] == [True]
        invoice = next(i for i in qbo_sandbox.entities("Invoice") if i["Id"] == inv.provider_id)
        assert (invoice["TotalAmt"], invoice["Balance"]) == (0, 0) and invoice["PrivateNote"].startswith("Voided")
        payment = next(p for p in qbo_sandbox.entities("Payment") if p["Id"] == pay.provider_id)
        assert payment["TotalAmt"] == 0 and payment["PrivateNote"].startswith("Voided")
        assert qbo_sandbox.entities("CreditMemo") == [] and len(qbo_sandbox.entities("Payment")) == 1   # link gone
        assert {c["DisplayName"]: c["Balance"] for c in qbo_sandbox.entities("Customer")} == {"Void Co": 0}
        assert [b for b in provider.balances(day) if b.amount] == []
        assert provider.find("invoice", ["inv_v"]) == {} and provider.find("payment", ["pa_v"]) == {}
    finally:
        provider.close()
