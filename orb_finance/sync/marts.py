"""The sync marts as the sync reads them: one load of marts.sync_* from the warehouse, with exact decimals.

Owns SyncData (customers, invoices and their lines, credit memos and their lines, payments, customer-balance
movements, items) and the indexes the planner walks (memos and payments by invoice).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import paths
from ..errors import OrbFinanceError

MARTS = ("sync_customers", "sync_invoices", "sync_invoice_lines", "sync_credit_memos", "sync_credit_memo_lines",
         "sync_payments", "sync_balance_transactions", "sync_items")

Row = dict[str, Any]


@dataclass
class SyncData:
    customers: dict[str, Row]
    invoices: dict[str, Row]
    lines: dict[str, list[Row]]
    memos: dict[str, Row]
    memo_lines: dict[str, list[Row]]
    payments: dict[str, Row]
    balances: dict[str, Row] = field(default_factory=dict)
    items: dict[str, Row] = field(default_factory=dict)
    memos_by_invoice: dict[str, list[str]] = field(default_factory=dict)
    payments_by_invoice: dict[str, list[str]] = field(default_factory=dict)
    as_of_date: Any = None             # the warehouse's as_of_date, when known
    # revenue recognition from the warehouse (SPEC §5.2): (month, currency) -> row; empty when not built
    revenue_monthly: dict[tuple, Row] = field(default_factory=dict)
    rollforward: dict[tuple, Row] = field(default_factory=dict)
    minor_units: dict[str, int] = field(default_factory=dict)      # ISO 4217 (seeds.currencies)

    def __post_init__(self) -> None:
        if not self.memos_by_invoice:
            for mid, m in self.memos.items():
                self.memos_by_invoice.setdefault(m["invoice_id"], []).append(mid)
        if not self.payments_by_invoice:
            for pid, p in self.payments.items():
                self.payments_by_invoice.setdefault(p["invoice_id"], []).append(pid)

    def item_connections(self, item_id: str | None) -> tuple[tuple[str, str], ...]:
        """The item's external connections as ((connection name, entity id), ...), from Orb's JSON list."""
        row = self.items.get(item_id) if item_id else None
        text = row.get("external_connections") if row else None
        if not text:
            return ()
        try:
            parsed = json.loads(text)
        except ValueError:
            return ()
        out = []
        for c in parsed if isinstance(parsed, list) else []:
            if isinstance(c, dict) and c.get("external_connection_name") and c.get("external_entity_id") is not None:
                out.append((str(c["external_connection_name"]), str(c["external_entity_id"])))
        return tuple(out)


def _rows(con: duckdb.DuckDBPyConnection, db: Path, table: str, order: str) -> list[Row]:
    try:
        cur = con.execute(f"select * from marts.{table} order by {order}")
    except duckdb.CatalogException:
        raise OrbFinanceError(f"Warehouse {db} has no marts.{table}: build the accounting_sync marts "
                              "(`orbfin build`).") from None
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def load_marts(duckdb_path: str | Path | None = None) -> SyncData:
    """The sync marts, with exact decimals (fetchall, never .df())."""
    db = paths.duckdb_path(duckdb_path)
    if not db.exists():
        raise OrbFinanceError(f"Warehouse {db} does not exist: run `orbfin build` (or `orbfin nightly`) first.")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise OrbFinanceError(f"Cannot open the warehouse {db}: {exc}") from None
    try:
        customers = {r["customer_id"]: r for r in _rows(con, db, "sync_customers", "customer_id")}
        invoices = {r["invoice_id"]: r for r in _rows(con, db, "sync_invoices", "invoice_date, invoice_id")}
        lines: dict[str, list[Row]] = defaultdict(list)
        for r in _rows(con, db, "sync_invoice_lines", "invoice_id, line_number"):
            lines[r["invoice_id"]].append(r)
        memos = {r["credit_note_id"]: r for r in _rows(con, db, "sync_credit_memos", "credit_note_date, credit_note_id")}
        memo_lines: dict[str, list[Row]] = defaultdict(list)
        for r in _rows(con, db, "sync_credit_memo_lines", "credit_note_id, line_number"):
            memo_lines[r["credit_note_id"]].append(r)
        payments = {r["payment_id"]: r for r in _rows(con, db, "sync_payments", "payment_date, payment_id")}
        balances = {r["balance_transaction_id"]: r for r in _rows(con, db, "sync_balance_transactions",
                                                                   "transaction_date, balance_transaction_id")}
        items = {r["item_id"]: r for r in _rows(con, db, "sync_items", "item_id")}
        as_of = warehouse_as_of(con)
        revenue = {(r["month"], r["currency"]): r for r in _optional(con, "revenue_monthly", "month, currency")}
        rollforward = {(r["month"], r["currency"]): r
                       for r in _optional(con, "deferred_revenue_rollforward", "month, currency")}
        try:
            minor_units = dict(con.execute("select currency_code, minor_unit from seeds.currencies").fetchall())
        except duckdb.Error:
            minor_units = {}
    finally:
        con.close()
    return SyncData(customers, invoices, dict(lines), memos, dict(memo_lines), payments, balances, items,
                    as_of_date=as_of, revenue_monthly=revenue, rollforward=rollforward, minor_units=minor_units)


def _optional(con, table: str, order: str) -> list[Row]:
    try:
        cur = con.execute(f"select * from marts.{table} order by {order}")
    except duckdb.CatalogException:
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def warehouse_as_of(con) -> Any:
    """The as_of_date the warehouse was built with (the point-in-time marts carry it), or None."""
    for table in ("customer_balances", "ar_aging", "ar_aging_summary"):
        try:
            value = con.execute(f"select max(as_of_date) from marts.{table}").fetchall()[0][0]
        except duckdb.Error:
            continue
        if value is not None:
            return value
    return None
