"""The local QuickBooks sandbox for the sync tests: a fixture that starts one per test (fast limits, its test
credentials in the environment) and the settings that point the provider at it.
"""

from __future__ import annotations

import pytest

from orb_finance.sync.sandbox.quickbooks import QuickBooksSandbox

ENV = {"QBO_CLIENT_ID": "ORBFIN_TEST_QBO_CLIENT_ID", "QBO_CLIENT_SECRET": "ORBFIN_TEST_QBO_CLIENT_SECRET",
       "QBO_REFRESH_TOKEN": "ORBFIN_TEST_QBO_REFRESH_TOKEN"}


# The hand-written exports' items (fixtures/sync_export) mapped to the sandbox's items.
FIXTURE_ITEMS = {"item_platform": "100", "item_api": "102", "item_seats": "101", "item_support": "107",
                 "item_setup": "106"}


def env_names(sandbox: QuickBooksSandbox) -> dict[str, str]:
    """The sandbox's test credentials under the variable names the test settings use."""
    return {ENV[k]: v for k, v in sandbox.credentials().items()}


def qbo_settings(sandbox: QuickBooksSandbox, **extra) -> dict:
    """The sandbox's own --settings-out, with the tests' variable names and short waits."""
    section = dict(sandbox.settings()["quickbooks"])
    section.update({f"{k.lower()[4:]}_env": v for k, v in ENV.items()})
    section.update(throttle_wait=0.05, backoff=0.01, retries=2, requests_per_second=200, requests_per_minute=20000,
                   batches_per_minute=2000)
    section["item_map"] = dict(FIXTURE_ITEMS)
    section.update(extra)
    return {"provider": "quickbooks", "quickbooks": section}


@pytest.fixture
def qbo_sandbox(tmp_path, monkeypatch):
    sandbox = QuickBooksSandbox(tmp_path / "qbo", request_log=str(tmp_path / "qbo-requests.jsonl"),
                                per_second=250, per_minute=25000, batch_per_minute=2500).start()
    for name, value in env_names(sandbox).items():
        monkeypatch.setenv(name, value)
    try:
        yield sandbox
    finally:
        sandbox.stop()
