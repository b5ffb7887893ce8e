"""Books that tie out (SPEC §5.1): the hand-written export of fixtures/books_export walks every case of the
accounting model; the ledger's balances are checked with bean-query against values worked out by hand in its
README, and `orbfin sync reconcile` ties the books to the finance marts (ar_aging, customer_balances) a controller
reads, says `out of scope` for what a setting leaves out, and exits 6 naming the customer and amount when the
books are wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from orb_finance.sync import reconcile as rc

from .conftest import balances, bean_check, bql

D = Decimal


def ledger_balances(ledger: Path) -> dict[str, Decimal]:
    """Every account's balance by bean-query (the ledger read by Beancount's own tools, not the sync's code)."""
    out = {}
    for (account, currency), amount in balances(ledger, "").items():
        assert currency == "USD"
        if amount:
            out[account] = amount
    return out


DAY_A = {
    "Assets:Receivable:USD:Dana-Inc": D("22.00"),
    "Assets:Cash:USD": D("326.00"),
    "Expenses:CustomerBalanceAdjustments:USD": D("50.00"),
    "Income:Revenue:USD": D("-440.00"),
    "Income:CreditNotes:USD": D("80.00"),
    "Liabilities:Tax:USD": D("-38.00"),
}   # Liabilities:CustomerBalance:USD:Dana-Inc is 0.00 (no row)
DAY_B = {
    "Assets:Receivable:USD:Dana-Inc": D("22.00"),
    "Liabilities:CustomerBalance:USD:Dana-Inc": D("-30.00"),
    "Assets:Cash:USD": D("320.50"),
    "Expenses:CustomerBalanceAdjustments:USD": D("47.40"),
    "Income:Revenue:USD": D("-410.40"),
    "Income:CreditNotes:USD": D("85.00"),
    "Liabilities:Tax:USD": D("-34.50"),
}


def test_every_case_books_the_hand_worked_balances_and_ties_to_the_marts(sync_setup, books_warehouses):
    first = sync_setup.run(books_warehouses.day_a)
    assert first.ok, first.failures
    assert first.by_status() == {"customer": {"synced": 1}, "invoice": {"synced": 5}, "credit_memo": {"synced": 3},
                                 "payment": {"synced": 4}, "balance_transaction": {"synced": 1}}
    assert bean_check(sync_setup.ledger).returncode == 0
    assert ledger_balances(sync_setup.ledger) == DAY_A
    day_a = sync_setup.cli("reconcile", "--duckdb-path", str(books_warehouses.day_a), "--by-customer")
    assert day_a.returncode == 0, day_a.stdout + day_a.stderr
    assert "tie to the warehouse as of 2026-04-30" in day_a.stdout

    second = sync_setup.run(books_warehouses.day_b)
    assert second.ok, second.failures
    actions = sorted((r.object_type, r.orb_id, r.action) for r in sync_setup.records() if r.run_id == second.run_id)
    assert actions == [("balance_transaction", "cbt_d5", "create"), ("balance_transaction", "cbt_d7", "create"),
                       ("credit_memo", "cn_d8", "create"), ("invoice", "inv_d5", "void"),
                       ("invoice", "inv_d6", "create"), ("payment", "pa_d5", "void"),
                       ("payment", "paid:inv_d6", "create")]
    assert bean_check(sync_setup.ledger).returncode == 0
    assert ledger_balances(sync_setup.ledger) == DAY_B
    # the payment of the voided invoice is reversed before the invoice, dated the void
    reversal = bql(sync_setup.ledger, "SELECT DISTINCT date WHERE entry_meta('orb_id') = 'pa_d5' AND 'orb-void' IN tags")
    assert reversal == [(dt.date(2026, 5, 2),)]
    # the customer balance is never debit-balanced while Orb's is not negative: its running balance after each
    # entry, by date, is a credit (or zero) throughout
    running = bql(sync_setup.ledger, "SELECT date, balance WHERE account = 'Liabilities:CustomerBalance:USD:Dana-Inc'")
    assert all(all(n <= 0 for n, _ in inventory) for _, inventory in running)
    day_b = sync_setup.cli("reconcile", "--duckdb-path", str(books_warehouses.day_b), "--by-customer", "--csv",
                           str(sync_setup.root / "reconcile.csv"))
    assert day_b.returncode == 0, day_b.stdout + day_b.stderr
    rows = {(r["check"], r["customer_id"]): r for r in csv.DictReader(open(sync_setup.root / "reconcile.csv"))}
    assert rows[("receivable", "cus_dana")]["books"] == rows[("receivable", "cus_dana")]["warehouse"] == "22.00"
    assert rows[("customer_balance", "cus_dana")]["books"] == "30.00"
    assert rows[("customer_balance", "cus_dana")]["warehouse"] == "30.00"
    assert {r["status"] for r in rows.values()} == {"ties"}


def test_a_wrong_ledger_entry_makes_reconcile_exit_6_naming_the_customer_and_amount(sync_setup, books_warehouses):
    sync_setup.run(books_warehouses.day_a)
    # someone books a stray 5.00 on Dana's receivable by hand
    with open(sync_setup.ledger, "a", encoding="utf-8") as fh:
        fh.write('2026-04-15 * "Dana Inc" "Manual fix"\n  Assets:Receivable:USD:Dana-Inc  5.00 USD\n'
                 '  Income:Revenue:USD  -5.00 USD\n\n')
    out = sync_setup.cli("reconcile", "--duckdb-path", str(books_warehouses.day_a))
    assert out.returncode == rc.EXIT_DIFFERS
    last = out.stderr.strip().splitlines()[-1]
    assert "receivables vs ar_aging outstanding USD Dana Inc (cus_dana)" in last
    assert "books 27.00, expected 22.00, difference 5.00" in last


def test_settings_that_leave_documents_out_show_as_out_of_scope_not_as_differences(sync_setup, books_warehouses):
    # only invoices issued from April on: inv_d1..inv_d3, their memos and payments, and the balance movements
    # dated before it are left out; inv_d4 (22 open) and inv_d5 are in
    sync_setup.write(minimum_issue_date="2026-04-01")
    sync_setup.run(books_warehouses.day_a)
    report = rc.reconcile(sync_setup.settings(), books_warehouses.day_a, by_customer=True)
    assert report.ok, [rc.describe(l) for l in report.differences]
    lines = {(l.check, l.customer_id): l for l in report.customers}
    receivable = lines[("receivable", "cus_dana")]
    assert (receivable.books, receivable.warehouse, receivable.out_of_scope) == (D("22.00"), D("22.00"), D("0"))
    balance = lines[("customer_balance", "cus_dana")]
    # Orb's 0.00 = +50 goodwill (01-05, before the date) - 50 applied to inv_d1 (out) + 11 (cn_d2 of inv_d2, out)
    # + 55 (cn_d3 of inv_d3, out) - 66 applied to inv_d4 (in): the books hold only -66; -66 - (0 - (-66)) ties
    assert (balance.books, balance.warehouse, balance.out_of_scope, balance.status) == (
        D("-66.00"), D("0"), D("66.00"), "out of scope")
    cash = next(l for l in report.lines if l.check == "cash")
    assert cash.books == cash.expected == D("33.00")            # only pa_d5 (inv_d5) is in the books
