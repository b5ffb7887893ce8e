"""On generated exports (several seeds, USD, EUR and JPY), after a sync with default settings the books tie to the
finance marts a controller reads: `orbfin sync reconcile` reports no difference, per currency and per customer,
and, checked independently with bean-query (never with the sync's own code):
- the ledger's receivables per currency equal sum(ar_aging.amount_outstanding) on the same as-of date;
- each customer's balance liability equals Orb's customer balance (customer_balances), so it is never
  debit-balanced for a customer whose Orb balance is not negative.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from orb_finance.sync import reconcile as rc

from .conftest import SELECT, bean_check, bql

AS_OF = "2026-10-31"           # the generator's last day (its end date is 2026-11-01)
SEEDS = (11, 23, 37)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def generated_warehouse(request, dbt_builder, tmp_path_factory) -> Path:
    from orb_finance.exports.generate import generate_sample

    root = tmp_path_factory.mktemp(f"generated{request.param}")
    generate_sample(root / "export", customers=40, months=6, seed=request.param, console=Console(quiet=True))
    result = dbt_builder.build(root / "export", select=[*SELECT, "+revenue_monthly", "+deferred_revenue_rollforward"],
                               as_of=AS_OF, keep_as=root / "warehouse.duckdb")
    assert result.success, result.reason()
    return root / "warehouse.duckdb"


def marts(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_books_tie_to_ar_aging_and_orbs_customer_balances(generated_warehouse, sync_setup):
    result = sync_setup.run(generated_warehouse)
    assert result.ok, result.failures[:3]
    counts = result.by_status()
    assert counts["invoice"]["synced"] > 100 and counts["balance_transaction"]["synced"] > 0
    assert bean_check(sync_setup.ledger).returncode == 0

    report = rc.reconcile(sync_setup.settings(), generated_warehouse, by_customer=True)
    assert report.ok, [rc.describe(l) for l in report.differences + report.customers if l.status == rc.DIFFERS][:5]
    assert {l.currency for l in report.lines} == {"USD", "EUR", "JPY"}

    # independently: bean-query's receivables per currency against the mart
    ar = {c: v for c, v in marts(generated_warehouse, "select currency, sum(amount_outstanding) from marts.ar_aging "
                                                       "group by currency")}
    ledger_ar: dict[str, Decimal] = defaultdict(Decimal)
    for (inventory,) in bql(sync_setup.ledger, f"SELECT sum(position) WHERE account ~ '^Assets:Receivable:' "
                                               f"AND date <= {AS_OF}"):
        for number, currency in inventory:
            ledger_ar[currency] += number
    assert {c: v for c, v in ledger_ar.items() if v} == {c: v for c, v in ar.items() if v}
    assert len(ar) == 3                                    # not vacuous: open invoices in every currency

    # amounts are written with their currency's decimals: yen whole, the others in cents
    import re
    amounts = re.findall(r" (-?\d+(?:\.\d+)?) (USD|EUR|JPY)\n", sync_setup.ledger.read_text())
    assert {c for _, c in amounts} == {"USD", "EUR", "JPY"}
    assert all("." not in n for n, c in amounts if c == "JPY")
    assert all(len(n.split(".")[1]) == 2 for n, c in amounts if c != "JPY")

    # and each customer's balance liability against Orb's (opened with the customer's Orb id as metadata)
    from beancount import loader
    entries, _, _ = loader.load_file(str(sync_setup.ledger))
    customer_of = {e.account: e.meta["orb_customer_id"] for e in entries
                   if type(e).__name__ == "Open" and "orb_customer_id" in e.meta}
    ledger_cb: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for account, inventory in bql(sync_setup.ledger, "SELECT account, sum(position) WHERE account ~ "
                                                     "'^Liabilities:CustomerBalance:' GROUP BY account"):
        for number, currency in inventory:
            ledger_cb[(customer_of[account], currency)] -= number          # a credit is what Orb owes
    orb_cb = {(c, cur): v for c, cur, v in marts(generated_warehouse, "select customer_id, currency, customer_balance "
                                                                      "from marts.customer_balances")}
    assert {k: v for k, v in ledger_cb.items() if v} == {k: v for k, v in orb_cb.items() if v}
    assert sum(1 for v in orb_cb.values() if v > 0) >= 1                   # a customer Orb owes money to


def test_with_warehouse_recognition_the_income_statement_is_revenue_monthly(generated_warehouse, sync_setup):
    """revenue_recognition: warehouse on a generated export: every ended month's journal is posted, and, read with
    bean-query by posting month (what Fava's income statement shows), each month's revenue is revenue_monthly's
    (journal lines are rounded on running totals: within a cent a month, the running total exact to the cent), and
    deferred less unbilled revenue at the last month end is the roll-forward's closing balance."""
    import datetime as dt

    sync_setup.write(revenue_recognition="warehouse")
    result = sync_setup.run(generated_warehouse)
    assert result.ok, result.failures[:3]
    assert result.by_status()["revenue_journal"]["synced"] >= 10
    assert bean_check(sync_setup.ledger).returncode == 0
    last_end = dt.date(2026, 9, 30)                        # as of 2026-10-31, September is the last ended month
    marts_revenue = {(m, c): v for m, c, v in marts(generated_warehouse, "select month, currency, total_revenue from "
                                                                         "marts.revenue_monthly")}
    minor = dict(marts(generated_warehouse, "select currency_code, minor_unit from seeds.currencies"))
    books = defaultdict(Decimal)
    for year, month, inventory in bql(sync_setup.ledger, "SELECT year, month, sum(position) WHERE account ~ '^Income:' "
                                                         "AND entry_meta('orb_object') = 'revenue_journal' GROUP BY 1, 2"):
        for number, currency in inventory:
            books[(dt.date(year, month, 1), currency)] -= number
    running = defaultdict(Decimal)
    for (month, currency), value in sorted(marts_revenue.items()):
        if month > last_end:
            continue
        running[currency] += value
        quantum = Decimal(1).scaleb(-minor[currency])
        assert abs(books[(month, currency)] - value) < quantum, (month, currency)
    for currency, total in running.items():
        from decimal import ROUND_HALF_UP
        booked = sum(v for (m, c), v in books.items() if c == currency)
        assert booked == total.quantize(Decimal(1).scaleb(-minor[currency]), rounding=ROUND_HALF_UP)
    closing = {c: v for c, v in marts(generated_warehouse, f"select currency, closing_balance from "
                                                           f"marts.deferred_revenue_rollforward where month = '2026-09-01'")}
    deferred = defaultdict(Decimal)
    for (inventory,) in bql(sync_setup.ledger, f"SELECT sum(position) WHERE date <= {last_end} AND "
                                               "(account ~ '^Liabilities:DeferredRevenue:' OR account ~ '^Assets:UnbilledRevenue:')"):
        for number, currency in inventory:
            deferred[currency] -= number
    for currency, value in closing.items():
        assert abs(deferred[currency] - value) < Decimal(1).scaleb(-minor[currency]), currency
    report = rc.reconcile(sync_setup.settings(), generated_warehouse)
    assert report.ok, [rc.describe(l) for l in report.differences][:5]
