"""NetSuite test helpers: a local sandbox (orb_finance.sync.sandbox.netsuite) started for one test, its credentials
in the environment, and the settings that connect the sync to it (the fixture's Orb items mapped to its items)."""

from __future__ import annotations

# The hand-written export's Orb items (fixtures/sync_export) -> the sandbox's items, by external id.
FIXTURE_ITEMS = {"item_platform": "ITEM-4000", "item_seats": "ITEM-4001", "item_api": "ITEM-4002",
                 "item_support": "302"}


def start_sandbox(request, **options):
    """A sandbox for the requesting test, stopped after it; its test credentials set in os.environ meanwhile."""
    from orb_finance.sync.sandbox.netsuite import NetSuiteSandbox

    options.setdefault("async_delay", 0.2)
    sandbox = NetSuiteSandbox(**options).start()
    monkeypatch = request.getfixturevalue("monkeypatch")
    for name, value in sandbox.credentials().items():
        monkeypatch.setenv(name, value)
    request.addfinalizer(sandbox.stop)
    return sandbox


def netsuite_settings(sandbox, **extra) -> dict:
    """Settings (provider and its section) for the sandbox: what --settings-out writes, without a default item
    (an unmapped Orb item fails), quick backoff for tests."""
    section = dict(sandbox.settings()["netsuite"])        # (SyncSetup.write sets the state path)
    section.pop("default_item", None)
    section.update(item_map=dict(FIXTURE_ITEMS), backoff=0.05)
    section.update(extra)
    return {"provider": "netsuite", "netsuite": section}


def sandbox_books(sandbox, as_of: str | None = None) -> dict[tuple, "Decimal"]:
    """The sandbox's general ledger read with SQL of the test's own (not the provider's SuiteQL): the balance of
    each (account name, currency, customer external id) on the transaction lines dated on or before `as_of`,
    debit positive; the customer is kept for Accounts Receivable and Customer balances (Orb) only."""
    from decimal import Decimal

    names, rows = sandbox.books.query(
        "SELECT a.fullname, c.symbol, cu.externalid, tl.foreignamount FROM transactionline tl "
        "JOIN transactionaccountingline tal ON tal.transaction = tl.transaction AND tal.transactionline = tl.id "
        "JOIN transaction t ON t.id = tl.transaction JOIN account a ON a.id = tal.account "
        "JOIN currency c ON c.id = t.currency LEFT JOIN customer cu ON cu.id = tl.entity "
        + (f"WHERE t.trandate <= '{as_of}'" if as_of else ""))
    out: dict[tuple, Decimal] = {}
    for account, currency, customer, amount in rows:
        if account not in ("Accounts Receivable", "Customer balances (Orb)"):
            customer = None
        key = (account, currency, customer)
        out[key] = out.get(key, Decimal(0)) + Decimal(amount)
    return {k: v for k, v in out.items() if v}


def live_external_ids(sandbox, record: str) -> list[str]:
    """External ids of the sandbox's records of a type (with repeats, if there were duplicates)."""
    return sorted(r.get("externalId") or "" for r in sandbox.records(record).values())
