"""NetSuite test helpers: a local sandbox (orb_finance.sync.sandbox.netsuite) started for one test, its credentials
in the environment, and the settings that connect the sync to it (the fixture's Orb items mapped to its items)."""

from __future__ import annotations

import os

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
    section = dict(sandbox.settings()["netsuite"])
    section.pop("default_item", None)
    section.update(item_map=dict(FIXTURE_ITEMS), backoff=0.05, **extra)
    return {"provider": "netsuite", "netsuite": section}


def credentials_set(sandbox) -> bool:
    return all(os.environ.get(k) == v for k, v in sandbox.credentials().items())
