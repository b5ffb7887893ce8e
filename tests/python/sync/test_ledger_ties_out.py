"""After syncing the generated sample export into Beancount, the ledger ties out to the warehouse.

Identities checked with beanquery against SQL on the marts (never against the sync's own code):
- per customer and currency, the receivable equals the open amount the invoices (amount_due), credit memos
  (live ones, total) and payments leave;
- per currency, invoiced revenue equals the billed line amounts (sync_invoice_lines);
- per currency, revenue net of credit notes equals `billed` summed over deferred_revenue_rollforward, and
  what invoices booked to receivables and customer balance equals gross billings in billings_monthly
  (the finance marts, SPEC §3/§4, built from the same staging by other models).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import duckdb

from .conftest import bean_check, bql


def by_currency(rows) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for inventory, in rows:
        for number, currency in inventory:
            out[currency] += number
    return {c: v for c, v in out.items() if v}


def test_generated_export_ties_out(generated_warehouse, sync_setup):
    result = sync_setup.run(generated_warehouse)
    assert result.ok, result.failures
    assert result.by_status()["invoice"]["synced"] > 100
    assert bean_check(sync_setup.ledger).returncode == 0
    con = duckdb.connect(str(generated_warehouse), read_only=True)
    try:
        expected_open = {(c, cur): amt for c, cur, amt in con.execute("""
            with invoices as (select * from marts.sync_invoices where not is_voided),
            open_items as (
                select customer_id, currency, amount_due as amount from invoices
                union all
                select customer_id, currency, -total from marts.sync_credit_memos where is_live
                union all
                select p.customer_id, p.currency, -p.amount
                from marts.sync_payments p inner join invoices using (invoice_id)
            )
            select customer_id, currency, sum(amount) from open_items group by all having sum(amount) <> 0
        """).fetchall()}
        billed_lines = dict(con.execute("""
            select l.currency, sum(l.amount) from marts.sync_invoice_lines l
            inner join marts.sync_invoices i using (invoice_id) where not i.is_voided group by all
        """).fetchall())
        billed_net = dict(con.execute(
            "select currency, sum(billed) from marts.deferred_revenue_rollforward group by all").fetchall())
        gross = dict(con.execute(
            "select currency, sum(gross_billings) from marts.billings_monthly group by all").fetchall())
        n_currencies = len(billed_lines)
    finally:
        con.close()
    assert n_currencies >= 2 and len(expected_open) >= 10          # the identities are not vacuous

    # receivables per customer: the ledger's AR accounts, mapped to Orb customers by their open directives
    from beancount import loader
    entries, _, _ = loader.load_file(str(sync_setup.ledger))
    customer_of = {e.account: e.meta["orb_customer_id"] for e in entries
                   if type(e).__name__ == "Open" and "orb_customer_id" in e.meta}
    ledger_open = {}
    for account, inventory in bql(sync_setup.ledger, "SELECT account, sum(position) WHERE account ~ "
                                                     "'^Assets:Receivable' GROUP BY account"):
        for number, currency in inventory:
            if number:
                ledger_open[(customer_of[account], currency)] = number
    assert ledger_open == expected_open

    revenue = by_currency(bql(sync_setup.ledger, "SELECT sum(position) WHERE account ~ '^Income:Revenue:'"))
    assert {c: -v for c, v in revenue.items()} == {c: v for c, v in billed_lines.items() if v}

    credit_notes = by_currency(bql(sync_setup.ledger, "SELECT sum(position) WHERE account ~ '^Income:CreditNotes:'"))
    net = {c: -(revenue.get(c, 0) + credit_notes.get(c, 0)) for c in set(revenue) | set(credit_notes)}
    assert {c: v for c, v in net.items() if v} == {c: v for c, v in billed_net.items() if v}

    invoiced = by_currency(bql(sync_setup.ledger, "SELECT sum(position) WHERE 'orb-invoice' IN tags AND "
                                                  "(account ~ '^Assets:Receivable' OR account ~ '^Liabilities:CustomerBalance')"))
    assert invoiced == {c: v for c, v in gross.items() if v}
