"""A provider error fails one record with the provider's message; the rest of the run still syncs; nothing is
tried again until `orbfin sync retry`.

The error is a real one: the finance team closed the receivable account an Orb customer is mapped to (a
`close` directive in the ledger), so Beancount would reject any entry booked to it on or after that date.
"""

from __future__ import annotations

from decimal import Decimal

from .conftest import balances, bean_check

CLOSED_LEDGER = """\
2000-01-01 open Assets:Receivable:USD:AcmeLegacy USD

2026-03-01 close Assets:Receivable:USD:AcmeLegacy

"""


def statuses(setup, **filters):
    return {(r.orb_id, r.status) for r in setup.records(**filters)}


def test_a_rejected_record_fails_alone_and_waits_for_retry(sync_setup, sync_warehouses):
    sync_setup.ledger.parent.mkdir(parents=True)
    sync_setup.ledger.write_text(CLOSED_LEDGER)
    sync_setup.write()
    sync_setup.cli("map-customer", "cus_acme", "AcmeLegacy", check=True)

    # 1. Acme's invoices dated on/after 2026-03-01 fail with Beancount's reason; everything else syncs
    run1 = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
    assert run1.returncode == 4, run1.stdout + run1.stderr
    assert "3 object(s) failed to sync (3 in this run)" in run1.stderr
    failed = sync_setup.records(status="failed")
    assert {r.orb_id for r in failed} == {"inv_a3", "inv_a4", "inv_a5"}
    assert {r.error for r in failed} == {
        "account Assets:Receivable:USD:AcmeLegacy is closed on 2026-03-01; cannot book an entry dated 2026-03-01",
        "account Assets:Receivable:USD:AcmeLegacy is closed on 2026-03-01; cannot book an entry dated 2026-03-10",
        "account Assets:Receivable:USD:AcmeLegacy is closed on 2026-03-01; cannot book an entry dated 2026-03-20"}
    assert statuses(sync_setup, status="synced") >= {("inv_a1", "synced"), ("inv_a2", "synced"),
                                                     ("cn_a2", "synced"), ("pa_a1", "synced"), ("inv_b2", "synced"),
                                                     ("pa_b2", "synced"), ("inv_c1", "synced")}
    assert ("cn_a4", "synced") not in statuses(sync_setup)   # its invoice failed: skipped, not attempted
    assert bean_check(sync_setup.ledger).returncode == 0

    # 2. running again retries nothing: no new attempt, the failures are reported as the reason for skipping
    n_records = len(sync_setup.records())
    run2 = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
    assert run2.returncode == 4 and "3 object(s) failed to sync (0 in this run)" in run2.stderr   # still said
    assert len(sync_setup.records()) == n_records
    skipped = sync_setup.cli("records", "--skipped", check=True).stdout
    assert "invoice inv_a4: failed (record" in skipped
    assert "credit_memo cn_a4: invoice inv_a4 failed (record" in skipped

    # 3. the team reopens the account; retry marks the failed records `retried`; the next run sends them
    sync_setup.ledger.write_text(sync_setup.ledger.read_text().replace(
        "2026-03-01 close Assets:Receivable:USD:AcmeLegacy\n", ""))
    retry = sync_setup.cli("retry", "--all-failed", check=True)
    assert "3 record(s) marked retried" in retry.stdout
    assert {(r.orb_id, r.status) for r in failed} == {(r.orb_id, "failed") for r in failed}
    assert {sync_setup.records(orb_id=o)[0].status for o in ("inv_a3", "inv_a4", "inv_a5")} == {"retried"}
    run3 = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
    assert run3.returncode == 0, run3.stdout + run3.stderr
    for orb_id in ("inv_a3", "inv_a4", "inv_a5"):
        assert [r.status for r in sync_setup.records(orb_id=orb_id)] == ["synced", "retried"]   # newest first
    assert [r.status for r in sync_setup.records(orb_id="cn_a4")] == ["synced"]
    assert bean_check(sync_setup.ledger).returncode == 0
    assert balances(sync_setup.ledger, "Assets:Receivable:USD:AcmeLegacy") == {
        ("Assets:Receivable:USD:AcmeLegacy", "USD"): Decimal("200.50")}


def test_retry_names_records_and_refuses_what_did_not_fail(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    some = sync_setup.records()[0]
    out = sync_setup.cli("retry", str(some.record_id))
    assert out.returncode == 1
    assert f"Record {some.record_id} is synced, not failed" in out.stderr
    assert sync_setup.cli("retry").returncode == 1            # neither ids nor --all-failed
    assert sync_setup.cli("retry", "99999").returncode == 1
