"""Revenue recognition from the warehouse (SPEC §5.2) on the hand-written export of fixtures/recognition_export:
two currencies, prepaid credits bought in January and consumed over two months with breakage, usage billed in
arrears, a credit note prorated across a month boundary, unbilled revenue, and (day 2) a late revert into a closed
and journaled January. Every journal line below is worked out by hand from the fixture:

USD  Jan: usage 60 (25 + 35), credit consumption 30, credit notes -6 (12.00 over Jan 30 - Feb 2, 3.00 a day)
          = 84; billed 100 (the credits) -> closing 16
     Feb: consumption 50, breakage 20, credit notes -6 = 64; billed 60 - 12 = 48 -> closing 0
EUR  Feb: usage 40 billed in March -> closing -40: unbilled revenue 40
     Mar: usage 90; billed 130 -> closing 0: the 40 of unbilled revenue goes back
Day 2 (as of 2026-05-01): the Jan 10 usage (25.00) is reverted; January is journaled, so April's journal carries
one correcting line for January: usage +25 (a debit), deferred revenue -25.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from orb_finance.sync import reconcile as rc

from .conftest import HERE, SELECT, bean_check, bql, later_export

D = Decimal
EXPORT = HERE / "fixtures" / "recognition_export"


@pytest.fixture(scope="session")
def recognition_warehouses(dbt_builder, tmp_path_factory):
    root = tmp_path_factory.mktemp("recognition")
    day2 = later_export(EXPORT / "day1", EXPORT / "day2", root / "export_day2")
    out = {}
    for name, export, as_of in (("day1", EXPORT / "day1", "2026-04-01"), ("day2", day2, "2026-05-01")):
        result = dbt_builder.build(export, as_of=as_of, keep_as=root / f"{name}.duckdb",
                                   select=[*SELECT, "+revenue_monthly", "+deferred_revenue_rollforward"])
        assert result.success, result.reason()
        out[name] = root / f"{name}.duckdb"
    return out


def journal(ledger: Path, orb_id: str) -> list[tuple[str, Decimal, str]]:
    rows = bql(ledger, f"SELECT account, number, meta('orb_month') WHERE entry_meta('orb_id') = '{orb_id}'")
    return sorted((a, n, m) for a, n, m in rows)


def revenue_by_month(ledger: Path) -> dict[tuple[str, str], Decimal]:
    """The books' revenue per month each journal line belongs to (credit positive), by bean-query."""
    rows = bql(ledger, "SELECT meta('orb_month'), currency, sum(number) WHERE account ~ '^Income:' "
                       "AND entry_meta('orb_object') = 'revenue_journal' GROUP BY 1, 2")
    return {(m, c): -n for m, c, n in rows if n}


def test_journals_of_ended_months_move_recognized_revenue_out_of_deferred(sync_setup, recognition_warehouses):
    sync_setup.write(revenue_recognition="warehouse")
    first = sync_setup.run(recognition_warehouses["day1"])
    assert first.ok, first.failures
    assert first.by_status().get("revenue_journal") == {"synced": 4}, (first.by_status(), first.notes, first.skips)  # USD Jan, Feb; EUR Feb, Mar
    ledger = sync_setup.ledger
    assert bean_check(ledger).returncode == 0
    assert journal(ledger, "revenue:2026-01:USD") == sorted([
        ("Income:Revenue:Usage:USD", D("-60.00"), "2026-01"), ("Income:Revenue:CreditConsumption:USD", D("-30.00"), "2026-01"),
        ("Income:CreditNotes:USD", D("6.00"), "2026-01"), ("Liabilities:DeferredRevenue:USD", D("84.00"), "2026-01")])
    assert journal(ledger, "revenue:2026-02:USD") == sorted([
        ("Income:Revenue:CreditConsumption:USD", D("-50.00"), "2026-02"),
        ("Income:Revenue:CreditBreakage:USD", D("-20.00"), "2026-02"), ("Income:CreditNotes:USD", D("6.00"), "2026-02"),
        ("Liabilities:DeferredRevenue:USD", D("64.00"), "2026-02")])
    assert journal(ledger, "revenue:2026-02:EUR") == sorted([
        ("Income:Revenue:Usage:EUR", D("-40.00"), "2026-02"), ("Liabilities:DeferredRevenue:EUR", D("40.00"), "2026-02"),
        ("Assets:UnbilledRevenue:EUR", D("40.00"), "2026-02"), ("Liabilities:DeferredRevenue:EUR", D("-40.00"), "2026-02")])
    assert journal(ledger, "revenue:2026-03:EUR") == sorted([
        ("Income:Revenue:Usage:EUR", D("-90.00"), "2026-03"), ("Liabilities:DeferredRevenue:EUR", D("90.00"), "2026-03"),
        ("Assets:UnbilledRevenue:EUR", D("-40.00"), "2026-03"), ("Liabilities:DeferredRevenue:EUR", D("40.00"), "2026-03")])
    # dated the month's last day; the invoices and memos credited deferred revenue, not revenue
    assert sorted(d for (d,) in bql(ledger, "SELECT DISTINCT date WHERE entry_meta('orb_object') = 'revenue_journal'")) == [
        dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
    assert bql(ledger, "SELECT sum(number) WHERE account ~ '^Income:Revenue:(USD|EUR)$'") in ([(None,)], [(D(0),)], [])
    # the books' revenue of every month equals revenue_monthly.total_revenue, the deferred balance the roll-forward
    assert revenue_by_month(ledger) == {("2026-01", "USD"): D("84"), ("2026-02", "USD"): D("64"),
                                        ("2026-02", "EUR"): D("40"), ("2026-03", "EUR"): D("90")}
    balances = {a: n for a, n in bql(ledger, "SELECT account, sum(number) WHERE account ~ "
                                             "'^(Liabilities:DeferredRevenue|Assets:UnbilledRevenue)' GROUP BY 1")}
    assert all(n == 0 for n in balances.values())          # both closing balances are 0 at the end of March
    report = rc.reconcile(sync_setup.settings(), recognition_warehouses["day1"])
    assert report.ok, [rc.describe(l) for l in report.differences]
    months = {(l.currency, l.customer_name): l for l in report.lines if l.check == "recognized"}
    assert months[("USD", "2026-01")].books == D("84") and months[("EUR", "2026-03")].books == D("90")

    again = sync_setup.run(recognition_warehouses["day1"])
    assert again.sent == 0 and again.by_status()["revenue_journal"] == {"up to date": 4}


def test_a_late_change_to_a_journaled_month_is_one_correcting_entry_in_the_next(sync_setup, recognition_warehouses):
    sync_setup.write(revenue_recognition="warehouse")
    sync_setup.run(recognition_warehouses["day1"])
    before = sync_setup.ledger.read_text()
    second = sync_setup.run(recognition_warehouses["day2"])
    assert second.ok, second.failures
    new = [r for r in sync_setup.records() if r.run_id == second.run_id]
    assert [(r.object_type, r.orb_id, r.action) for r in new] == [("revenue_journal", "revenue:2026-04:USD", "create")]
    assert sync_setup.ledger.read_text().startswith(before)                 # nothing journaled was edited
    assert journal(sync_setup.ledger, "revenue:2026-04:USD") == sorted([
        ("Income:Revenue:Usage:USD", D("25.00"), "2026-01"), ("Liabilities:DeferredRevenue:USD", D("-25.00"), "2026-04")])
    assert bql(sync_setup.ledger, "SELECT DISTINCT entry_meta('corrects') WHERE entry_meta('orb_id') = "
                                  "'revenue:2026-04:USD'") == [("2026-01",)]
    # January's revenue, corrections included, is revenue_monthly's again: 35 + 30 - 6 = 59; the deferred balance
    # is the roll-forward's 25 (the reverted 25 is billed, no longer recognized)
    assert revenue_by_month(sync_setup.ledger)[("2026-01", "USD")] == D("59")
    deferred = bql(sync_setup.ledger, "SELECT sum(number) WHERE account = 'Liabilities:DeferredRevenue:USD'")
    assert deferred[0][0] == [(D("-25.00"), "USD")] or deferred == [(D("-25.00"),)]
    report = rc.reconcile(sync_setup.settings(), recognition_warehouses["day2"])
    assert report.ok, [rc.describe(l) for l in report.differences]
    assert sync_setup.run(recognition_warehouses["day2"]).sent == 0


def test_killed_mid_run_every_journal_is_booked_once(sync_setup, recognition_warehouses):
    from collections import Counter

    from .test_crash_recovery import run_until_killed

    sync_setup.write(revenue_recognition="warehouse")
    run_until_killed(sync_setup, recognition_warehouses["day1"], "after_journal:2")   # 2 journals in, unrecorded
    assert {r.status for r in sync_setup.records(object_type="revenue_journal")} == {"pending"}
    result = sync_setup.run(recognition_warehouses["day1"])
    assert result.ok, result.failures
    per_journal = Counter(orb_id for txn, orb_id in bql(sync_setup.ledger, "SELECT DISTINCT entry_meta('orb_txn'), "
                                                                           "entry_meta('orb_id')")
                          if txn and orb_id.startswith("revenue:"))
    assert per_journal == {"revenue:2026-01:USD": 1, "revenue:2026-02:USD": 1, "revenue:2026-02:EUR": 1,
                           "revenue:2026-03:EUR": 1}
    assert revenue_by_month(sync_setup.ledger)[("2026-01", "USD")] == D("84")
    assert rc.reconcile(sync_setup.settings(), recognition_warehouses["day1"]).ok


def test_journal_export_writes_balanced_debit_and_credit_lines(sync_setup, recognition_warehouses, tmp_path):
    out = tmp_path / "journal-2026-02.csv"
    proc = sync_setup.cli_top("journal", "export", "--month", "2026-02", "--duckdb-path",
                              str(recognition_warehouses["day1"]), "--csv", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import csv
    rows = list(csv.DictReader(open(out, newline="")))
    by = {(r["currency"], r["account"], r["debit"], r["credit"]) for r in rows}
    assert by == {("USD", "Revenue: prepaid credit consumption", "", "50.00"),
                  ("USD", "Revenue: prepaid credit breakage", "", "20.00"),
                  ("USD", "Credit notes (contra-revenue)", "6.00", ""), ("USD", "Deferred revenue", "64.00", ""),
                  ("EUR", "Revenue: usage", "", "40.00"), ("EUR", "Deferred revenue", "40.00", ""),
                  ("EUR", "Unbilled revenue", "40.00", ""), ("EUR", "Deferred revenue", "", "40.00")}
    for currency in ("USD", "EUR"):
        mine = [r for r in rows if r["currency"] == currency]
        assert sum(D(r["debit"] or 0) for r in mine) == sum(D(r["credit"] or 0) for r in mine)
        assert {r["date"] for r in mine} == {"2026-02-28"}


@pytest.mark.tryton
def test_tryton_posts_the_same_journals_and_ties_month_by_month(sync_setup, recognition_warehouses, tryton):
    """Tryton: invoice and memo lines go to deferred revenue (2.2.2) in their own moves, each month's journal is a
    posted move; the books read back tie to revenue_monthly and the roll-forward on both days."""
    from .conftest import tryton_settings

    sync_setup.write(**tryton_settings(tryton), revenue_recognition="warehouse")
    for day, journals in (("day1", 4), ("day2", 1)):
        result = sync_setup.run(recognition_warehouses[day])
        assert result.ok, result.failures
        assert result.by_status()["revenue_journal"].get("synced") == journals
        report = rc.reconcile(sync_setup.settings(), recognition_warehouses[day])
        assert report.ok, [rc.describe(l) for l in report.differences]
    months = {(l.currency, l.customer_name): l.books for l in report.lines if l.check == "recognized"}
    # January with April's correction of it: 84 - 25 = 59
    assert months == {("USD", "2026-01"): D("59"), ("USD", "2026-02"): D("64"), ("EUR", "2026-02"): D("40"),
                      ("EUR", "2026-03"): D("90")}
    deferred = {l.currency: l.books for l in report.lines if l.check == "deferred_revenue"}
    assert deferred == {"USD": D("25"), "EUR": D("0")}
