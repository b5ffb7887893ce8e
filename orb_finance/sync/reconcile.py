"""`orbfin sync reconcile` (SPEC §5.1): the provider's balances read back and set beside the warehouse's.

Owns the tie-out: per currency (and per customer) the books' receivable against `marts.ar_aging` (credit balances
left on paid invoices shown apart), the customer-balance liability against `marts.customer_balances`, cash
against the payments and cash refunds the sync books, revenue net of credit notes and tax against the sync marts'
documents, and, with revenue recognition from the warehouse, revenue per month and the deferred balance against
`revenue_monthly` and `deferred_revenue_rollforward`. Each line ties, differs (with the amount and the Orb objects
behind it) or is out of scope (left out by a setting, counted apart).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import duckdb
from rich.table import Table

from .. import paths, redact
from ..errors import OrbFinanceError
from . import planner as pn
from . import state as st
from .lock import StateLock
from .marts import SyncData, load_marts, warehouse_as_of
from .payloads import CASH, CUSTOMER_BALANCE, RECEIVABLE
from .providers.base import (ADJUSTMENTS, BALANCE_ADJUSTMENTS, CREDIT_NOTES, CUSTOMER_BALANCE as CB_KIND, RECEIVABLE as AR_KIND,
                             REVENUE, TAX, BalanceLine)
from .providers.base import CASH as CASH_KIND
from .settings import Settings

EXIT_DIFFERS = 6
TIES, DIFFERS, OUT_OF_SCOPE = "ties", "differs", "out of scope"
ZERO = Decimal(0)
CHECKS = {
    "receivable": "receivables vs ar_aging outstanding",
    "customer_balance": "customer balance vs customer_balances",
    "cash": "cash vs payments and cash refunds",
    "revenue": "revenue net of credit notes vs synced documents",
    "tax": "tax vs invoice and memo tax",
    "recognized": "revenue of the month vs revenue_monthly",
    "deferred_revenue": "deferred less unbilled revenue vs deferred_revenue_rollforward",
}
CSV_COLUMNS = ["as_of_date", "check", "currency", "customer_id", "customer_name", "books", "warehouse", "out_of_scope",
               "apart", "expected", "difference", "status", "objects"]


@dataclass
class Line:
    check: str
    currency: str
    books: Decimal
    warehouse: Decimal
    out_of_scope: Decimal = ZERO          # the warehouse's amount that settings keep out of the books
    apart: Decimal = ZERO                 # in the books, not in the warehouse figure, explained (shown apart)
    customer_id: str | None = None
    customer_name: str | None = None
    objects: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def expected(self) -> Decimal:
        return self.warehouse - self.out_of_scope + self.apart

    @property
    def difference(self) -> Decimal:
        return self.books - self.expected

    @property
    def status(self) -> str:
        if self.difference != 0:
            return DIFFERS
        if self.out_of_scope != 0:
            return OUT_OF_SCOPE
        return TIES


@dataclass
class Report:
    as_of: dt.date
    provider: str
    lines: list[Line]                       # per currency
    customers: list[Line]                   # per customer and currency (receivable, customer balance)
    by_customer: bool = False
    minor_units: dict[str, int] = field(default_factory=dict)

    @property
    def differences(self) -> list[Line]:
        return [l for l in self.lines if l.status == DIFFERS]

    @property
    def ok(self) -> bool:
        return not self.differences and not [l for l in self.customers if l.status == DIFFERS]

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else EXIT_DIFFERS

    def summary(self) -> str:
        n = len(self.differences) + len([l for l in self.customers if l.status == DIFFERS])
        scope = [l for l in self.lines if l.status == OUT_OF_SCOPE]
        if self.ok:
            return (f"the {self.provider} books tie to the warehouse as of {self.as_of} ({len(self.lines)} lines"
                    + (f"; {len(scope)} with amounts out of scope" if scope else "") + ")")
        first = ([l for l in self.customers if l.status == DIFFERS] or self.differences)[0]
        return (f"the {self.provider} books differ from the warehouse as of {self.as_of} on {n} line(s); first: "
                f"{describe(first)}")

    def rows(self) -> list[Line]:
        shown = list(self.lines)
        shown += self.customers if self.by_customer else [l for l in self.customers if l.status == DIFFERS]
        return shown


def describe(line: Line) -> str:
    who = f" {line.customer_name or line.customer_id} ({line.customer_id})" if line.customer_id else ""
    objects = f" [{', '.join(line.objects[:5])}{', ...' if len(line.objects) > 5 else ''}]" if line.objects else ""
    return (f"{CHECKS.get(line.check, line.check)} {line.currency}{who}: books {_fmt(line.books)}, expected "
            f"{_fmt(line.expected)}, difference {_fmt(line.difference)}{objects}")


# --- the warehouse side ---------------------------------------------------------------------------------

def _rows(con, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


@dataclass
class Warehouse:
    as_of: dt.date
    ar: list[dict[str, Any]]                 # marts.ar_aging rows
    balances: list[dict[str, Any]]           # marts.customer_balances rows
    names: dict[str, str]


def read_warehouse(duckdb_path: str | Path | None, as_of: dt.date | None) -> Warehouse:
    db = paths.duckdb_path(duckdb_path)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise OrbFinanceError(f"Cannot open the warehouse {db}: {exc}") from None
    try:
        built = warehouse_as_of(con)
        if as_of is not None and built is not None and as_of != built:
            raise OrbFinanceError(f"The warehouse {db} holds AR aging and customer balances as of {built}, not {as_of}: "
                                  f"rebuild it as of that date (orbfin build --as-of {as_of}) to reconcile on it.")
        as_of = as_of or built or dt.datetime.now(dt.timezone.utc).date()
        try:
            ar = _rows(con, "select invoice_id, customer_id, currency, amount_outstanding from marts.ar_aging")
            balances = _rows(con, "select customer_id, currency, customer_balance from marts.customer_balances")
            names = {r["customer_id"]: r["customer_name"] for r in
                     _rows(con, "select customer_id, name as customer_name from staging.stg_orb__customer")}
        except duckdb.CatalogException as exc:
            raise OrbFinanceError(f"Warehouse {db} lacks a finance mart reconcile reads ({exc}); build every model "
                                  "(orbfin build).") from None
    finally:
        con.close()
    return Warehouse(as_of, ar, balances, names)


# --- what the books should hold -----------------------------------------------------------------------

def _on(value: Any) -> dt.date | None:
    return pn.as_date(value)


class Expectation:
    """What the sync books (or leaves out) as of D, from the sync marts, the settings and the sync history."""

    def __init__(self, data: SyncData, settings: Settings, hist: dict, as_of: dt.date):
        self.data, self.settings, self.hist, self.as_of = data, settings, hist, as_of
        self.invoice_scope = {iid: self._invoice_in_scope(iid, inv) for iid, inv in data.invoices.items()}

    def _invoice_in_scope(self, iid: str, inv: dict) -> bool:
        if ("invoice", iid) in self.hist:
            return True                      # sent once: it stays in the books whatever the settings say now
        return pn.invoice_filter(self.settings, inv) is None

    def on_or_before(self, value: Any) -> bool:
        d = _on(value)
        return d is not None and d <= self.as_of

    def live_on(self, start: Any, end: Any) -> bool:
        """Booked on `start` and not yet reversed on D (reversed on `end`, if any)."""
        return self.on_or_before(start) and not self.on_or_before(end)

    # per invoice: what its entries leave on the receivable (invoice, memos to the receivable, payments)
    def invoice_receivables(self) -> dict[str, Decimal]:
        d, out = self.data, {}
        for iid, inv in d.invoices.items():
            if not self.invoice_scope[iid] or not self.live_on(inv["invoice_date"], inv["voided_at"]):
                continue
            amount = inv["amount_due"]
            for mid in d.memos_by_invoice.get(iid, []):
                m = d.memos[mid]
                if m["credit_target"] == RECEIVABLE and self.live_on(m["credit_note_date"], m["removed_at"]):
                    amount -= m["total"]
            for pid in d.payments_by_invoice.get(iid, []):
                p = d.payments[pid]
                if self.payment_booked(p):
                    amount -= p["amount"]
            out[iid] = amount
        return out

    def payment_booked(self, p: dict) -> bool:
        inv = self.data.invoices.get(p["invoice_id"])
        if inv is None or not self.invoice_scope.get(p["invoice_id"]):
            return False
        if not self.on_or_before(p["payment_date"]):
            return False
        if inv["is_voided"] and self.on_or_before(inv["voided_at"]):
            return False
        return bool(p["is_live"]) or (inv["is_voided"] and not self.on_or_before(inv["voided_at"]))

    def balance_out_of_scope(self, row: dict) -> str | None:
        """Why a customer-balance movement is not in the books by rule (a setting, or a customer not synced), else None."""
        d = self.data
        if row["customer_id"] not in d.customers:
            return "its customer has no issued invoice (not synced)"
        by = row["explained_by"]
        if by == "invoice" and not self.invoice_scope.get(row["explaining_id"], True):
            return f"invoice {row['explaining_id']} is out of scope"
        if by == "credit_memo":
            memo = d.memos.get(row["explaining_id"])
            if memo is not None and not self.invoice_scope.get(memo["invoice_id"], True):
                return f"credit note {row['explaining_id']} is on an out-of-scope invoice"
        if by == "payment":
            pay = d.payments.get(row["explaining_id"])
            if pay is not None and not self.invoice_scope.get(pay["invoice_id"], True):
                return f"payment {row['explaining_id']} is of an out-of-scope invoice"
        if row["amount_to_book"] != 0 and ("balance_transaction", row["balance_transaction_id"]) not in self.hist:
            reason = pn.balance_filter(self.settings, row)
            if reason:
                return reason
        return None


def reconcile(settings: Settings, duckdb_path: str | Path | None = None, *, as_of: dt.date | None = None,
              by_customer: bool = False, provider=None, lock: bool = True) -> Report:
    """Read the provider's balances on D and set them beside the warehouse's."""
    from .engine import SyncEngine

    warehouse = read_warehouse(duckdb_path, as_of)
    data = load_marts(duckdb_path)
    with (StateLock(settings.state_path, "orbfin sync reconcile") if lock else _nothing()):
        hist, frontiers = {}, {}
        if Path(settings.state_path).exists():
            with st.StateStore(settings.state_path) as store:
                hist = store.histories(settings.provider)
                skipped = {(t, o): r for t, o, r in store.skips(settings.provider)}
                for currency in {c for (_, c) in data.revenue_monthly} | {c for (_, c) in data.rollforward}:
                    value = store.get_meta(f"journal_frontier:{settings.provider}:{currency}")
                    if value:
                        frontiers[currency] = dt.date.fromisoformat(value)
        else:
            skipped = {}
        own = provider is None
        provider = provider or SyncEngine(settings, duckdb_path).make_provider()
        try:
            books = provider.balances(warehouse.as_of)
            period_end = last_journal_end(warehouse.as_of) if settings.revenue_recognition == "warehouse" else None
            period_books = provider.balances(period_end) if period_end else []
        finally:
            if own:
                provider.close()
    report = compare(settings, data, warehouse, books, hist, skipped, provider.name, by_customer)
    if period_end is not None:
        report.lines += recognition_lines(settings, data, hist, period_books, period_end, frontiers)
    return report


def last_journal_end(as_of: dt.date) -> dt.date:
    """The last day of the last month that has ended on `as_of` (the last month a journal can be for)."""
    return as_of.replace(day=1) - dt.timedelta(days=1)


def recognition_lines(settings: Settings, data: SyncData, hist: dict, books: Iterable[BalanceLine],
                      period_end: dt.date, frontiers: dict | None = None) -> list[Line]:
    """SPEC §5.2 with revenue_recognition: warehouse, at the end of the last ended month: each month's revenue in the
    books (by the month each journal line belongs to, corrections included) against revenue_monthly.total_revenue,
    and deferred minus unbilled revenue against deferred_revenue_rollforward.closing_balance. Apart: the rounding to
    the cent of the journals' running totals, and corrections still waiting for a month to end."""
    from . import recognition as rr
    from .payloads import RevenueJournalPayload
    from .providers.base import DEFERRED_REVENUE, RECOGNIZED, REVENUE_JOURNAL, UNBILLED_REVENUE

    booked_by: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    deferred: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in books:
        if b.kind == RECOGNIZED:
            booked_by[(b.currency, b.month)] += b.amount
        elif b.kind == DEFERRED_REVENUE:
            deferred[b.currency] += b.amount
        elif b.kind == UNBILLED_REVENUE:
            deferred[b.currency] -= b.amount
    journaled: dict[str, list] = defaultdict(list)
    for key, h in hist.items():
        if key[0] == REVENUE_JOURNAL and h.live_provider_id and h.last_put is not None:
            month, currency = rr.parse_journal_id(key[1])
            journaled[currency].append((month, RevenueJournalPayload.lines_from_json(h.last_put.content)))
    out = []
    exp = Expectation(data, settings, hist, period_end)
    for currency in sorted(set(rr.currencies_of(data.revenue_monthly, data.rollforward)) | set(deferred)):
        unit = data.minor_units.get(currency, 2)
        booked = rr.Booked.of(journaled.get(currency, []), (frontiers or {}).get(currency))
        waiting = defaultdict(lambda: ZERO)
        for l in rr.corrections(data.revenue_monthly, booked, currency, unit):
            waiting[l.month] += -l.amount
        cum_exact = cum_books = ZERO
        for month in rr.months_of(data.revenue_monthly, data.rollforward, currency):
            if month > period_end:
                continue
            exact = sum(rr.exact(data.revenue_monthly, month, currency).values(), ZERO)
            rounded = sum(rr.recognized(data.revenue_monthly, month, currency, unit).values(), ZERO)
            journaled_month = booked.last is not None and month <= booked.last
            expected_books = (rounded - waiting[month]) if journaled_month else ZERO
            line = Line("recognized", currency, booked_by[(currency, month)], exact, ZERO, expected_books - exact)
            line.customer_name = f"{month:%Y-%m}"
            if not journaled_month and exact:
                line.note = "not journaled yet"
            out.append(line)
            cum_exact += exact
            cum_books += expected_books
        # the deferred balance: what the books billed (documents in scope) less what they recognized
        closing = rr.closing(data.rollforward, period_end, currency)
        scope = _deferred_out_of_scope(data, exp, currency)
        line = Line("deferred_revenue", currency, deferred[currency], closing, scope, cum_exact - cum_books)
        line.customer_name = f"end of {period_end:%Y-%m}"
        out.append(line)
    return out


def _deferred_out_of_scope(data: SyncData, exp: "Expectation", currency: str) -> Decimal:
    """Billed amounts (invoice lines less credit-memo lines) of documents a setting keeps out of the books."""
    total = ZERO
    for iid, inv in data.invoices.items():
        if inv["currency"] != currency or exp.invoice_scope[iid] or not exp.live_on(inv["invoice_date"], inv["voided_at"]):
            continue
        total += sum((l["amount"] for l in data.lines.get(iid, [])), ZERO)
        for mid in data.memos_by_invoice.get(iid, []):
            m = data.memos[mid]
            if exp.live_on(m["credit_note_date"], m["removed_at"]):
                total -= m["amount"]
    return total


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def compare(settings: Settings, data: SyncData, warehouse: Warehouse, books: Iterable[BalanceLine], hist: dict,
            skipped: dict, provider_name: str, by_customer: bool = False) -> Report:
    exp = Expectation(data, settings, hist, warehouse.as_of)
    D = warehouse.as_of
    book = defaultdict(lambda: ZERO)                  # (kind, currency, customer|None) -> amount
    book_doc = defaultdict(lambda: ZERO)              # receivable per (currency, customer, invoice)
    doc_split = False
    for b in books:
        book[(b.kind, b.currency, b.customer_orb_id)] += b.amount
        if b.kind in (AR_KIND, CB_KIND):
            book[(b.kind, b.currency, None)] += b.amount
        if b.kind == AR_KIND and b.orb_object:
            doc_split = True
            book_doc[(b.currency, b.customer_orb_id, b.orb_object)] += b.amount

    names = {cid: r["customer_name"] for cid, r in data.customers.items()}
    names.update({k: v for k, v in warehouse.names.items() if k not in names})
    customers: list[Line] = []
    lines: list[Line] = []

    # 1. receivables: ar_aging, less what settings keep out, plus what the books keep on closed invoices
    ar = defaultdict(lambda: ZERO)
    ar_scope = defaultdict(lambda: ZERO)
    ar_by_invoice = {}
    for r in warehouse.ar:
        key = (r["currency"], r["customer_id"])
        ar[key] += r["amount_outstanding"]
        ar_by_invoice[r["invoice_id"]] = r["amount_outstanding"]
        if not exp.invoice_scope.get(r["invoice_id"], True):
            ar_scope[key] += r["amount_outstanding"]
    apart = defaultdict(lambda: ZERO)
    apart_objects = defaultdict(list)
    expected_doc = {}
    for iid, amount in exp.invoice_receivables().items():
        inv = data.invoices[iid]
        key = (inv["currency"], inv["customer_id"])
        expected_doc[(inv["currency"], inv["customer_id"], iid)] = amount
        extra = amount - ar_by_invoice.get(iid, ZERO)
        if extra != 0:
            apart[key] += extra
            apart_objects[key].append(f"invoice {iid} ({'paid' if exp.on_or_before(inv['paid_at']) else 'open'}, "
                                      f"{_signed(extra)})")
    keys = set(ar) | set(apart) | {(c, cust) for (k, c, cust) in book if k == AR_KIND and cust}
    for currency, cust in sorted(keys, key=lambda k: (k[0], k[1] or "")):
        line = Line("receivable", currency, book[(AR_KIND, currency, cust)], ar[(currency, cust)],
                    ar_scope[(currency, cust)], apart[(currency, cust)], cust, names.get(cust))
        if line.status == DIFFERS:
            line.objects = _behind(cust, currency, data, hist, skipped, book_doc if doc_split else None, expected_doc)
        elif line.apart:
            line.note = "; ".join(apart_objects[(currency, cust)][:5])
        customers.append(line)
    lines += _totals("receivable", customers)

    # 2. customer balances: Orb's, less the movements that are out of scope by rule
    cb = defaultdict(lambda: ZERO)
    for r in warehouse.balances:
        cb[(r["currency"], r["customer_id"])] += r["customer_balance"]
    cb_scope = defaultdict(lambda: ZERO)
    for row in data.balances.values():
        if row["is_deleted"] or not exp.on_or_before(row["transaction_date"]):
            continue
        if exp.balance_out_of_scope(row):
            cb_scope[(row["currency"], row["customer_id"])] += row["balance_change"]
    cb_lines = []
    keys = set(cb) | {(c, cust) for (k, c, cust) in book if k == CB_KIND and cust}
    for currency, cust in sorted(keys, key=lambda k: (k[0] or "", k[1] or "")):
        line = Line("customer_balance", currency, book[(CB_KIND, currency, cust)], cb[(currency, cust)],
                    cb_scope[(currency, cust)], ZERO, cust, names.get(cust))
        if line.status == DIFFERS:
            line.objects = _behind(cust, currency, data, hist, skipped, None, {})
        cb_lines.append(line)
    customers += cb_lines
    lines += _totals("customer_balance", cb_lines)

    # 3. cash, revenue net of credit notes, tax: what the sync books for the documents in scope
    cash, revenue, tax = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO), defaultdict(lambda: ZERO)
    for pay in data.payments.values():
        if pay["settled_from"] == CASH and exp.payment_booked(pay):
            cash[pay["currency"]] += pay["amount"]
    for row in data.balances.values():
        if (row["contra_account"] == CASH and row["amount_to_book"] and not row["is_deleted"]
                and exp.on_or_before(row["transaction_date"]) and not exp.balance_out_of_scope(row)):
            cash[row["currency"]] += row["amount_to_book"]
    for iid, inv in data.invoices.items():
        if not exp.invoice_scope[iid] or not exp.live_on(inv["invoice_date"], inv["voided_at"]):
            continue
        lines_of = data.lines.get(iid, [])
        if settings.skip_zero_line_items:
            lines_of = [l for l in lines_of if l["amount"] != 0 or l["tax_amount"] != 0]
        revenue[inv["currency"]] += sum((l["amount"] for l in lines_of), ZERO) + inv["adjustment_amount"]
        tax[inv["currency"]] += sum((l["tax_amount"] for l in lines_of), ZERO)
    for m in data.memos.values():
        inv = data.invoices.get(m["invoice_id"])
        if inv is None or not exp.invoice_scope.get(m["invoice_id"]) or not exp.live_on(m["credit_note_date"], m["removed_at"]):
            continue
        revenue[m["currency"]] -= m["amount"]
        tax[m["currency"]] -= m["tax_amount"]
        if m["credit_target"] == CASH:
            cash[m["currency"]] -= m["total"]
    currencies = sorted(set(cash) | set(revenue) | set(tax)
                        | {c for (k, c, _) in book if k in (CASH_KIND, REVENUE, CREDIT_NOTES, TAX)})
    for currency in currencies:
        lines.append(Line("cash", currency, book[(CASH_KIND, currency, None)], cash[currency]))
        if settings.revenue_recognition != "warehouse":      # else: revenue by month and the deferred balance
            net = (book[(REVENUE, currency, None)] + book[(ADJUSTMENTS, currency, None)]
                   - book[(CREDIT_NOTES, currency, None)])
            lines.append(Line("revenue", currency, net, revenue[currency]))
        lines.append(Line("tax", currency, book[(TAX, currency, None)], tax[currency]))
    lines.sort(key=lambda l: (l.currency, list(CHECKS).index(l.check) if l.check in CHECKS else 99))
    return Report(D, provider_name, lines, customers, by_customer, dict(data.minor_units))


def _totals(check: str, per_customer: list[Line]) -> list[Line]:
    out: dict[str, Line] = {}
    for l in per_customer:
        t = out.setdefault(l.currency, Line(check, l.currency, ZERO, ZERO))
        t.books += l.books
        t.warehouse += l.warehouse
        t.out_of_scope += l.out_of_scope
        t.apart += l.apart
        if l.status == DIFFERS:
            t.objects.append(f"customer {l.customer_id} {_signed(l.difference)}")
    return list(out.values())


def _behind(customer: str | None, currency: str, data: SyncData, hist: dict, skipped: dict,
            book_doc: dict | None, expected_doc: dict) -> list[str]:
    """The Orb objects behind a customer's difference: invoices whose books differ (where the provider says which
    invoice an amount belongs to), then the customer's objects the sync has not booked as the warehouse wants
    (failed, pending, skipped)."""
    out = []
    if book_doc is not None:
        docs = {k for k in set(book_doc) | set(expected_doc) if k[0] == currency and k[1] == customer}
        for key in sorted(docs, key=lambda k: k[2] or ""):
            diff = book_doc.get(key, ZERO) - expected_doc.get(key, ZERO)
            if diff:
                out.append(f"invoice {key[2]} {_signed(diff)}")
    mine = _objects_of(customer, data)
    for key in sorted(mine):
        h = hist.get(key)
        if h is not None and h.latest.status in (st.FAILED, st.PENDING, st.RETRIED):
            out.append(f"{key[0]} {key[1]} {h.latest.status} (record {h.latest.record_id})")
        elif key in skipped and (h is None or h.latest.status != st.SYNCED):
            out.append(f"{key[0]} {key[1]} skipped: {skipped[key]}")
    return out


def _objects_of(customer: str | None, data: SyncData) -> set[tuple[str, str]]:
    keys = {("invoice", i) for i, r in data.invoices.items() if r["customer_id"] == customer}
    keys |= {("credit_memo", m) for m, r in data.memos.items() if r["customer_id"] == customer}
    keys |= {("payment", p) for p, r in data.payments.items() if r["customer_id"] == customer}
    keys |= {("balance_transaction", b) for b, r in data.balances.items() if r["customer_id"] == customer}
    keys.add(("customer", customer))
    return keys


# --- output ---------------------------------------------------------------------------------------------

def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + _fmt(value)


def _fmt(value: Decimal) -> str:
    q = value.normalize()
    if q.as_tuple().exponent > -2:
        q = q.quantize(Decimal("0.01"))
    return format(q, "f")


SHORT = {"receivable": "receivable", "customer_balance": "customer balance", "cash": "cash",
         "revenue": "revenue", "tax": "tax", "recognized": "revenue of", "deferred_revenue": "deferred"}


def table(report: Report) -> Table:
    """One row per line; amounts in the currency's decimals with thousands separators; the columns of what is out
    of scope, apart, differing or behind a difference only when a line has one."""
    rows = report.rows()
    t = Table(title=f"orbfin sync reconcile: the {report.provider} books vs the warehouse as of {report.as_of}",
              title_justify="left")
    money = lambda v, c: f"{v:,.{report.minor_units.get(c, 2)}f}"  # noqa: E731
    optional = {"customer / month": any(l.customer_id or l.customer_name for l in rows),
                "out of scope": any(l.out_of_scope for l in rows), "apart": any(l.apart for l in rows),
                "difference": any(l.difference for l in rows), "behind it": any(l.objects or l.note for l in rows)}
    columns = [("check", "left"), ("currency", "left"), ("customer / month", "left"), ("books", "right"),
               ("warehouse", "right"), ("out of scope", "right"), ("apart", "right"), ("difference", "right"),
               ("status", "left"), ("behind it", "left")]
    columns = [(c, j) for c, j in columns if optional.get(c, True)]
    for col, just in columns:
        t.add_column(col, justify=just, overflow="fold", no_wrap=col not in ("behind it", "customer / month"))
    style = {TIES: "green", DIFFERS: "bold red", OUT_OF_SCOPE: "yellow"}
    for l in rows:
        cells = {"check": SHORT.get(l.check, l.check), "currency": l.currency,
                 "customer / month": _plain(l.customer_name or l.customer_id or ""),
                 "books": money(l.books, l.currency), "warehouse": money(l.warehouse, l.currency),
                 "out of scope": money(l.out_of_scope, l.currency) if l.out_of_scope else "",
                 "apart": money(l.apart, l.currency) if l.apart else "",
                 "difference": money(l.difference, l.currency) if l.difference else "",
                 "status": f"[{style[l.status]}]{l.status}[/]", "behind it": _plain("; ".join(l.objects[:5]) or l.note)}
        t.add_row(*[cells[c] for c, _ in columns])
    return t


def _plain(text: str) -> str:
    from rich.markup import escape
    return escape(redact.redact(text))


def write_csv(report: Report, path: str | os.PathLike[str]) -> int:
    from .records import neutralise

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = report.rows() if report.by_customer else report.lines + report.customers
    with open(target, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for l in rows:
            w.writerow([neutralise(v) for v in (
                report.as_of.isoformat(), l.check, l.currency, l.customer_id or "", l.customer_name or "",
                _fmt(l.books), _fmt(l.warehouse), _fmt(l.out_of_scope), _fmt(l.apart), _fmt(l.expected),
                _fmt(l.difference), l.status, redact.redact("; ".join(l.objects) or l.note))])
    return len(rows)
