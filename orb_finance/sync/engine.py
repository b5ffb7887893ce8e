"""One accounting-sync pass (SPEC §5): read the sync marts, apply the settings, decide per object, call the
provider, record every attempt in the state store.

Order of a pass: pending attempts of a dead run are resolved by looking them up; resyncs take their old
objects out (payments, memos, then invoices); then customers → invoices → credit memos → payments are sent;
voids come last (memos deleted before their invoice is voided). A dependent of a failed or skipped parent is
skipped with the reason. Every send is written `pending` (committed) before the provider is called, and
every create is preceded by a lookup by Orb id, so a killed run never leaves a duplicate.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import paths
from ..errors import OrbFinanceError
from . import state as st
from .providers import (CREDIT_MEMO, CUSTOMER, INVOICE, OBJECT_TYPES, PAYMENT, CreditMemoPayload, CustomerPayload,
                        InvoicePayload, LinePayload, Outcome, PaymentPayload, Provider, ProviderError,
                        ProviderUnavailable, Removal, payload_hash, provider_class)
from .records import redact
from .settings import Settings

MARTS = ("sync_customers", "sync_invoices", "sync_invoice_lines", "sync_credit_memos", "sync_credit_memo_lines",
         "sync_payments")
OBJECT_ALIASES = {"customer": CUSTOMER, "customers": CUSTOMER, "invoice": INVOICE, "invoices": INVOICE,
                  "credit_memo": CREDIT_MEMO, "credit-memo": CREDIT_MEMO, "credit_memos": CREDIT_MEMO,
                  "credit_note": CREDIT_MEMO, "credit-note": CREDIT_MEMO, "memo": CREDIT_MEMO,
                  "payment": PAYMENT, "payments": PAYMENT}
# The statuses of an attempt a run still has to finish.
UNFINISHED = (st.PENDING, st.RETRIED, st.RESYNCED)


def object_type(name: str) -> str:
    try:
        return OBJECT_ALIASES[name.strip().lower()]
    except KeyError:
        raise OrbFinanceError(f"Unknown object type {name!r}; one of: {', '.join(OBJECT_TYPES)}.") from None


# --- reading the marts ----------------------------------------------------------------------------------

@dataclass
class SyncData:
    customers: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]
    lines: dict[str, list[dict[str, Any]]]
    memos: dict[str, dict[str, Any]]
    memo_lines: dict[str, list[dict[str, Any]]]
    payments: dict[str, dict[str, Any]]
    memos_by_invoice: dict[str, list[str]] = field(default_factory=dict)
    payments_by_invoice: dict[str, list[str]] = field(default_factory=dict)


def load_marts(duckdb_path: str | Path | None = None) -> SyncData:
    """The six sync marts, with exact decimals (fetchall, never .df())."""
    db = paths.duckdb_path(duckdb_path)
    if not db.exists():
        raise OrbFinanceError(f"Warehouse {db} does not exist: run `orbfin build` (or `orbfin nightly`) first.")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise OrbFinanceError(f"Cannot open the warehouse {db}: {exc}") from None
    try:
        def rows(table: str, order: str) -> list[dict[str, Any]]:
            try:
                cur = con.execute(f"select * from marts.{table} order by {order}")
            except duckdb.CatalogException:
                raise OrbFinanceError(f"Warehouse {db} has no marts.{table}: build the accounting_sync marts "
                                      "(`orbfin build`).") from None
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

        customers = {r["customer_id"]: r for r in rows("sync_customers", "customer_id")}
        invoices = {r["invoice_id"]: r for r in rows("sync_invoices", "invoice_date, invoice_id")}
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows("sync_invoice_lines", "invoice_id, line_number"):
            lines[r["invoice_id"]].append(r)
        memos = {r["credit_note_id"]: r for r in rows("sync_credit_memos", "credit_note_date, credit_note_id")}
        memo_lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows("sync_credit_memo_lines", "credit_note_id, line_number"):
            memo_lines[r["credit_note_id"]].append(r)
        payments = {r["payment_id"]: r for r in rows("sync_payments", "payment_date, payment_id")}
    finally:
        con.close()
    data = SyncData(customers, invoices, dict(lines), memos, dict(memo_lines), payments)
    for mid, m in memos.items():
        data.memos_by_invoice.setdefault(m["invoice_id"], []).append(mid)
    for pid, p in payments.items():
        data.payments_by_invoice.setdefault(p["invoice_id"], []).append(pid)
    return data


# --- the result of a pass -------------------------------------------------------------------------------

UP_TO_DATE, SKIPPED = "up to date", "skipped"


@dataclass
class RunResult:
    run_id: str
    provider: str
    counts: Counter = field(default_factory=Counter)          # (object_type, status) -> n
    skips: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[st.Record] = field(default_factory=list)
    aborted: str | None = None
    elapsed: float = 0.0
    sent: int = 0                                             # provider writes (creates + removals)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.aborted

    @property
    def records_written(self) -> int:
        return sum(n for (_, s), n in self.counts.items() if s in st.STATUSES)

    def by_status(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (otype, status), n in self.counts.items():
            out.setdefault(otype, {})[status] = n
        return out


# --- work items -----------------------------------------------------------------------------------------

@dataclass
class Work:
    object_type: str
    orb_id: str
    action: str                              # create | resync | void | delete
    payload: Any = None                      # the Payload of a put
    removal: Removal | None = None           # what to take out (void/delete, or the old object of a resync)
    record_id: int | None = None             # an attempt to continue (a pending one of a dead run, or phase A)
    invoice_number: str | None = None
    amount: Decimal | None = None
    currency: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.object_type, self.orb_id)

    def new_record(self) -> st.NewRecord:
        return st.NewRecord(
            object_type=self.object_type, orb_id=self.orb_id, action=self.action,
            payload_hash=payload_hash(self.payload) if self.payload is not None else None,
            provider_id=self.removal.provider_id if self.removal else None,
            invoice_number=self.invoice_number, amount=_amount_text(self.amount), currency=self.currency)


def _amount_text(amount: Decimal | None) -> str | None:
    if amount is None:
        return None
    q = amount.normalize()
    if q.as_tuple().exponent > -2:
        q = q.quantize(Decimal("0.01"))
    return format(q, "f")


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


class SyncEngine:
    """One pass over the marts for one provider. `only` restricts the pass to some objects (resync)."""

    def __init__(self, settings: Settings, duckdb_path: str | Path | None = None, *, provider: Provider | None = None,
                 console: Console | None = None, show_progress: bool = True, data: SyncData | None = None):
        self.settings = settings
        self.duckdb_path = duckdb_path
        self._provider = provider
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self._data = data

    # --- public entry points ----------------------------------------------------------------------

    def run(self, only: set[tuple[str, str]] | None = None) -> RunResult:
        started = time.monotonic()
        data = self._data or load_marts(self.duckdb_path)
        provider = self._provider or self._make_provider()
        self.secrets = list(getattr(provider, "secrets", lambda: [])())
        store = st.StateStore(self.settings.state_path)
        run_id = store.begin_run(provider.name, self.settings.describe())
        pass_ = _Pass(self, data, provider, store, run_id, only)
        outcome = "crashed"
        try:
            try:
                pass_.execute()
                outcome = "failures" if pass_.result.failures else "ok"
            except ProviderUnavailable as exc:
                pass_.result.aborted = redact(str(exc), self.secrets)
                outcome = "aborted"
            finally:
                try:
                    provider.close()
                except ProviderError as exc:      # e.g. the ledger check after the run
                    pass_.result.aborted = redact(str(exc), self.secrets)
                    outcome = "aborted"
        finally:
            result = pass_.result
            result.elapsed = time.monotonic() - started
            store.finish_run(run_id, outcome, {f"{t}:{s}": n for (t, s), n in result.counts.items()}, result.skips,
                             provider.name, replace_skips=only is None)
            store.close()
        return result

    # --- bookkeeping commands -------------------------------------------------------------------

    def resync(self, object_type_name: str, orb_id: str) -> RunResult:
        """Mark the object's synced record `resynced` (an invoice: with its payments and credit memos) and send
        them again now: the old provider objects are taken out and new ones created."""
        otype = object_type(object_type_name)
        data = self._data or load_marts(self.duckdb_path)
        self._data = data
        keys = [(otype, orb_id)]
        if otype == INVOICE:
            if orb_id not in data.invoices:
                raise OrbFinanceError(f"Invoice {orb_id} is not in marts.sync_invoices.")
            if data.invoices[orb_id]["is_voided"]:
                raise OrbFinanceError(f"Invoice {orb_id} was voided in Orb: there is nothing to resync.")
            keys += [(CREDIT_MEMO, m) for m in data.memos_by_invoice.get(orb_id, [])]
            keys += [(PAYMENT, p) for p in data.payments_by_invoice.get(orb_id, [])]
        with st.StateStore(self.settings.state_path) as store:
            history = store.histories(self.settings.provider).get((otype, orb_id))
            if history is None or history.latest.status != st.SYNCED or history.latest.action not in st.PUTS:
                status = "never synced" if history is None else f"{history.latest.status} ({history.latest.action}, record {history.latest.record_id})"
                raise OrbFinanceError(f"{otype} {orb_id} is {status}: only a synced object can be resynced"
                                      + (" (a failed one is retried: orbfin sync retry)." if history and history.latest.status == st.FAILED else "."))
            marked = store.mark_resynced(self.settings.provider, keys)
        return self.run(only={(r.object_type, r.orb_id) for r in marked})

    def _make_provider(self) -> Provider:
        try:
            return provider_class(self.settings.provider)(self.settings.provider_settings)
        except (ProviderUnavailable, ProviderError) as exc:
            raise OrbFinanceError(f"{self.settings.provider}: {exc}") from None

    def map_customer(self, orb_customer_id: str, provider_customer_id: str) -> st.Record:
        provider = self._provider or self._make_provider()
        try:
            try:
                canonical = provider.check_customer(provider_customer_id)
            except ProviderError as exc:
                raise OrbFinanceError(f"{self.settings.provider}: cannot map to customer {provider_customer_id!r}: {exc}") from None
        finally:
            provider.close()
        with st.StateStore(self.settings.state_path) as store:
            rid, = store.add(provider.name, None, [st.NewRecord(CUSTOMER, orb_customer_id, st.MAP, provider_id=canonical)],
                             status=st.SYNCED)
            return store.get(rid)


class _Pass:
    """The state of one run: histories, skips, counts; and the stages."""

    def __init__(self, engine: SyncEngine, data: SyncData, provider: Provider, store: st.StateStore, run_id: str,
                 only: set[tuple[str, str]] | None):
        self.engine, self.settings, self.data = engine, engine.settings, data
        self.provider, self.store, self.run_id, self.only = provider, store, run_id, only
        self.hist = store.histories(provider.name)
        self.result = RunResult(run_id=run_id, provider=provider.name)
        self.skipped: dict[tuple[str, str], str] = {}
        self.batch = int(getattr(provider, "batch_size", 200))
        self.progress: Progress | None = None
        self.task = None

    # --- helpers --------------------------------------------------------------------------------------

    def in_scope(self, key: tuple[str, str]) -> bool:
        return self.only is None or key in self.only

    def skip(self, key: tuple[str, str], reason: str) -> None:
        if key not in self.skipped:
            self.skipped[key] = reason
            self.result.skips.append((key[0], key[1], reason))
            self.result.counts[(key[0], SKIPPED)] += 1

    def live_id(self, key: tuple[str, str]) -> str | None:
        h = self.hist.get(key)
        return h.live_provider_id if h else None

    def why_not_live(self, key: tuple[str, str]) -> str:
        """Why a parent is not in the provider, for its dependents' skip reasons."""
        otype, oid = key
        h = self.hist.get(key)
        if h is not None and h.latest.status == st.FAILED:
            rec = h.latest
            return f"{otype} {oid} failed (record {rec.record_id}; fix it, then orbfin sync retry {rec.record_id})"
        if key in self.skipped:
            return f"{otype} {oid} skipped: {self.skipped[key]}"
        if h is None:
            return f"{otype} {oid} is not synced"
        rec = h.latest
        if h.removed:
            return f"{otype} {oid} was removed from the provider ({rec.action}, record {rec.record_id})"
        return f"{otype} {oid} is {rec.status} (record {rec.record_id})"

    def _note(self, rec_id: int, otype: str, oid: str, action: str, status: str, provider_id: str | None,
              error: str | None) -> None:
        """Mirror a new or settled attempt into the in-memory histories."""
        h = self.hist.get((otype, oid))
        rec = st.Record(rec_id, st.utc_now(), otype, oid, self.provider.name, action, provider_id, status, error,
                        None, None, None, None, self.run_id)
        if h is None:
            h = self.hist[(otype, oid)] = st.History(latest=rec, live_provider_id=None, removed=False)
        h.latest = rec
        if status == st.SYNCED and action in st.PUTS:
            h.live_provider_id, h.removed, h.last_put = provider_id, False, rec
        elif status == st.SYNCED and action in st.REMOVES:
            h.live_provider_id, h.removed = None, True
        if status in st.STATUSES:
            self.result.counts[(otype, status)] += 1
        if status == st.FAILED:
            self.result.failures.append(rec)

    def _settle(self, works: Sequence[Work], outcomes: Sequence[Outcome], *, keep_pending: bool = False) -> list[Work]:
        """Record provider outcomes; returns the works that succeeded. keep_pending: successes stay pending
        (phase A of a resync, whose create is still to come)."""
        resolutions, ok = [], []
        for w, out in zip(works, outcomes):
            if out.ok:
                ok.append(w)
                if not keep_pending:
                    resolutions.append(st.Resolution(w.record_id, st.SYNCED, out.provider_id))
            else:
                resolutions.append(st.Resolution(w.record_id, st.FAILED, None, redact(out.error, self.engine.secrets)))
        self.store.resolve(resolutions)
        for w, out in zip(works, outcomes):
            if out.ok and keep_pending:
                continue
            if out.ok:
                self._note(w.record_id, w.object_type, w.orb_id, w.action, st.SYNCED, out.provider_id, None)
            else:
                self._note(w.record_id, w.object_type, w.orb_id, w.action, st.FAILED, None,
                           redact(out.error, self.engine.secrets))
        return ok

    def _open_records(self, works: Sequence[Work]) -> None:
        """Write `pending` attempts (committed) for works without one; restart resumed ones."""
        new = [w for w in works if w.record_id is None]
        resumed = [w for w in works if w.record_id is not None]
        if new:
            ids = self.store.add(self.provider.name, self.run_id, [w.new_record() for w in new])
            for w, rid in zip(new, ids):
                w.record_id = rid
        if resumed:
            self.store.restart([w.record_id for w in resumed], self.run_id,
                               [payload_hash(w.payload) if w.payload is not None else None for w in resumed])

    def _advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    # --- the pass -------------------------------------------------------------------------------------

    def execute(self) -> None:
        resume = self.resolve_pending()
        plan = self.plan(resume)
        total = sum(len(v) for v in plan.values())
        show = self.engine.show_progress and total > 0
        if show:
            self.progress = Progress(TextColumn("sync {task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.engine.console, transient=True)
            self.progress.__enter__()
            self.task = self.progress.add_task(self.provider.name, total=total)
        try:
            self.take_out_resynced(plan)
            self.put_customers(plan)
            self.put_invoices(plan)
            self.put_memos(plan)
            self.put_payments(plan)
            self.remove_memos(plan)
            self.remove_invoices(plan)
        finally:
            if show:
                self.progress.__exit__(None, None, None)

    # 1. pending attempts of a dead run --------------------------------------------------------------

    def resolve_pending(self) -> dict[tuple[str, str], Work]:
        """Look up every object whose latest attempt is pending. Found (and not the object a resync was
        replacing) → synced with its provider id; not found → the same record is sent again (returned)."""
        resume: dict[tuple[str, str], Work] = {}
        for otype in OBJECT_TYPES:
            pending = [h.latest for (t, _), h in self.hist.items()
                       if t == otype and h.latest.status == st.PENDING and self.in_scope((t, h.latest.orb_id))]
            for chunk in _chunks(pending, self.batch):
                found = self.provider.find(otype, [r.orb_id for r in chunk])
                settled = []
                for rec in chunk:
                    pid = found.get(rec.orb_id)
                    if rec.action in st.REMOVES:
                        if pid is None or pid != rec.provider_id:
                            settled.append(st.Resolution(rec.record_id, st.SYNCED, rec.provider_id))
                        else:
                            resume[(otype, rec.orb_id)] = Work(otype, rec.orb_id, rec.action, record_id=rec.record_id)
                    elif rec.action == st.RESYNC and otype != CUSTOMER:
                        if pid is not None and pid != rec.provider_id:
                            settled.append(st.Resolution(rec.record_id, st.SYNCED, pid))
                        else:   # old object still there (redo all) or gone (only the create is left)
                            resume[(otype, rec.orb_id)] = Work(
                                otype, rec.orb_id, st.RESYNC, record_id=rec.record_id,
                                removal=Removal(rec.orb_id, rec.provider_id, dt.date.today(), "resync") if pid else None)
                    elif pid is not None:
                        settled.append(st.Resolution(rec.record_id, st.SYNCED, pid))
                    else:
                        resume[(otype, rec.orb_id)] = Work(otype, rec.orb_id, rec.action, record_id=rec.record_id)
                self.store.resolve(settled)
                for res in settled:
                    rec = next(r for r in chunk if r.record_id == res.record_id)
                    self._note(rec.record_id, otype, rec.orb_id, rec.action, st.SYNCED, res.provider_id, None)
        return resume

    # 2. what to do with each object -----------------------------------------------------------------

    def invoice_filter(self, inv: dict[str, Any]) -> str | None:
        s = self.settings
        if s.minimum_issue_date and inv["issued_date"] < s.minimum_issue_date:
            return f"issued {inv['issued_date']}, before minimum_issue_date {s.minimum_issue_date}"
        if s.minimum_amount is not None and inv["total"] < s.minimum_amount:
            return f"total {_amount_text(inv['total'])} {inv['currency']} is below minimum_amount {s.minimum_amount}"
        if s.skip_zero_invoices and inv["total"] == 0:
            return "zero invoice (skip_zero_invoices)"
        return None

    def put_action(self, key: tuple[str, str], wanted: bool, resume: dict) -> Work | str | None:
        """For an object that should exist in the provider: a Work, a skip reason, or None (nothing to do)."""
        if key in resume and resume[key].action in st.PUTS:
            return resume.pop(key)
        h = self.hist.get(key)
        if h is None:
            return Work(key[0], key[1], st.CREATE) if wanted else None
        rec = h.latest
        if rec.status == st.FAILED:
            return f"failed (record {rec.record_id}): not retried until orbfin sync retry {rec.record_id}"
        if rec.status == st.RETRIED and rec.action in st.PUTS:
            old = h.live_provider_id if rec.action == st.RESYNC else None
            return Work(key[0], key[1], rec.action if rec.action != st.MAP else st.CREATE,
                        removal=Removal(key[1], old, dt.date.today(), "resync") if old else None)
        if rec.status == st.RESYNCED:
            return Work(key[0], key[1], st.RESYNC,
                        removal=Removal(key[1], rec.provider_id, dt.date.today(), "resync")
                        if key[0] != CUSTOMER and rec.provider_id else None)
        if rec.status == st.SYNCED and rec.action in st.PUTS:
            if self.in_scope(key) and wanted and rec.run_id != self.run_id:
                self.result.counts[(key[0], UP_TO_DATE)] += 1
            return None
        return None

    def planned_put(self, key: tuple[str, str], wanted: bool, resume: dict) -> Work | None:
        """put_action, with a skip reason recorded as a skip."""
        w = self.put_action(key, wanted, resume)
        if isinstance(w, str):
            self.skip(key, w)
            return None
        return w

    def unfinished(self, key: tuple[str, str], resume: dict) -> bool:
        """An attempt on the object is still open: pending, marked retried or resynced, or resumed after a crash."""
        h = self.hist.get(key)
        return key in resume or (h is not None and h.latest.status in UNFINISHED)

    def plan(self, resume: dict[tuple[str, str], Work]) -> dict[str, list[Work]]:
        d = self.data
        plan: dict[str, list[Work]] = {"customer": [], "invoice": [], "credit_memo": [], "payment": [],
                                       "remove_memo": [], "remove_invoice": []}

        # invoices that should exist in the provider
        invoice_works: list[tuple[Work, dict]] = []
        for iid, inv in d.invoices.items():
            key = (INVOICE, iid)
            if not self.in_scope(key):
                continue
            h = self.hist.get(key)
            wanted = not inv["is_voided"]
            if wanted and h is None and key not in resume:
                reason = self.invoice_filter(inv)
                if reason:
                    self.skip(key, reason)
                    continue
            if inv["is_voided"] and not self.unfinished(key, resume):
                continue   # handled by the void stage (or never sent)
            w = self.planned_put(key, wanted, resume)
            if w is not None:
                invoice_works.append((w, inv))
        # customers those invoices need, and customers with their own unfinished attempts
        needed = {inv["customer_id"] for _, inv in invoice_works}
        for (otype, oid), h in self.hist.items():
            if otype == CUSTOMER and h.latest.status in UNFINISHED and self.in_scope((otype, oid)):
                needed.add(oid)
        for cid in sorted(needed):
            key = (CUSTOMER, cid)
            row = d.customers.get(cid)
            if row is None:
                self.skip(key, "not in marts.sync_customers")
                continue
            h = self.hist.get(key)
            if h is not None and h.live_provider_id and h.latest.status == st.SYNCED:
                continue
            if h is None and key not in resume and not self.settings.create_customers:
                self.skip(key, "no provider customer is mapped and create_customers is off "
                               f"(orbfin sync map-customer {cid} PROVIDER_CUSTOMER_ID)")
                continue
            w = self.planned_put(key, True, resume)
            if w is not None:
                w.payload = CustomerPayload(orb_id=cid, name=row["customer_name"] or cid, currency=row["currency"],
                                            email=row["email"], external_customer_id=row["external_customer_id"])
                plan["customer"].append(w)
        for w, inv in invoice_works:
            w.invoice_number, w.amount, w.currency = inv["invoice_number"], inv["total"], inv["currency"]
            plan["invoice"].append(w)

        # credit memos that should exist
        for mid, memo in d.memos.items():
            key = (CREDIT_MEMO, mid)
            if not self.in_scope(key):
                continue
            wanted = bool(memo["is_live"])
            if not wanted and not self.unfinished(key, resume):
                continue
            w = self.planned_put(key, wanted, resume)
            if w is not None:
                w.invoice_number, w.amount, w.currency = memo["invoice_number"], memo["total"], memo["currency"]
                plan["credit_memo"].append(w)
        # payments
        for pid, pay in d.payments.items():
            key = (PAYMENT, pid)
            if not self.in_scope(key):
                continue
            inv = d.invoices.get(pay["invoice_id"])
            wanted = inv is not None and not inv["is_voided"]
            if not wanted and not self.unfinished(key, resume):
                if key not in self.hist:
                    self.skip(key, f"invoice {pay['invoice_id']} was voided in Orb")
                continue
            w = self.planned_put(key, wanted, resume)
            if w is not None:
                w.invoice_number, w.amount, w.currency = pay["invoice_number"], pay["amount"], pay["currency"]
                plan["payment"].append(w)

        # removals: memos no longer live in Orb, then invoices voided in Orb
        for mid, memo in d.memos.items():
            if memo["is_live"]:
                continue
            w = self.removal_action((CREDIT_MEMO, mid), st.DELETE, memo["removed_at"], resume)
            if w is not None:
                booked = self.hist[w.key].last_put if w.key in self.hist else None
                w.invoice_number, w.currency = memo["invoice_number"], memo["currency"]
                w.amount = Decimal(booked.amount) if booked is not None and booked.amount else memo["total"]
                plan["remove_memo"].append(w)
        for iid, inv in d.invoices.items():
            if not inv["is_voided"]:
                continue
            w = self.removal_action((INVOICE, iid), st.VOID, inv["voided_at"], resume)
            if w is not None:
                w.invoice_number, w.amount, w.currency = inv["invoice_number"], inv["total"], inv["currency"]
                plan["remove_invoice"].append(w)
        # resumed attempts of objects no longer in the marts: leave them pending, say so
        for key, w in resume.items():
            if w not in plan.get(w.object_type, []) and not any(w is x for v in plan.values() for x in v):
                self.skip(key, f"record {w.record_id} is pending but the object is no longer in the sync marts")
        return plan

    def removal_action(self, key: tuple[str, str], action: str, when: Any, resume: dict) -> Work | None:
        if not self.in_scope(key):
            return None
        on_date = _date(when) or dt.date.today()
        if key in resume and resume[key].action in st.REMOVES:
            w = resume.pop(key)
            w.removal = Removal(key[1], self._pending_pid(w.record_id), on_date, action)
            return w
        h = self.hist.get(key)
        if h is None:
            return None
        rec = h.latest
        if rec.action in st.REMOVES:
            if rec.status == st.RETRIED:
                return Work(key[0], key[1], action, removal=Removal(key[1], rec.provider_id, on_date, action))
            if rec.status == st.FAILED:
                self.skip(key, f"{rec.action} failed (record {rec.record_id}): not retried until "
                               f"orbfin sync retry {rec.record_id}")
            return None
        if h.live_provider_id or rec.status in UNFINISHED:
            # the provider id is read when the removal runs: a put earlier in this pass may replace it
            return Work(key[0], key[1], action, removal=Removal(key[1], None, on_date, action))
        return None

    def _pending_pid(self, record_id: int | None) -> str | None:
        rec = self.store.get(record_id) if record_id else None
        return rec.provider_id if rec else None

    # 3. resync phase A: take out what must be replaced, dependents first ---------------------------

    def _unchanged(self, w: Work, payload: Any, found: dict[str, str]) -> bool:
        """Still live in the provider as we left it: the same object and the same payload as last sent."""
        h = self.hist.get(w.key)
        last = h.last_put if h else None
        return (w.removal is not None and found.get(w.orb_id) == w.removal.provider_id and last is not None
                and last.payload_hash == payload_hash(payload))

    def take_out_resynced(self, plan: dict[str, list[Work]]) -> None:
        """A resync sends again what changed or went missing. An object still in the provider exactly as it
        was sent is re-linked (a new synced record, same provider id): re-creating it would only add noise
        (and Tryton cannot number an old document after newer ones). A replaced invoice takes its payments
        and credit memos with it, since they point at it; those are taken out first."""
        d, replaced = self.data, {}
        for otype in (INVOICE, CREDIT_MEMO, PAYMENT):
            works = [w for w in plan[otype] if w.action == st.RESYNC and w.removal is not None]
            found = self.provider.find(otype, [w.orb_id for w in works]) if works else {}
            out = []
            for w in works:
                try:
                    if otype == INVOICE:
                        inv = d.invoices[w.orb_id]
                        payload = self.invoice_payload(inv, self.live_id((CUSTOMER, inv["customer_id"])) or "")
                        parent = None
                    elif otype == CREDIT_MEMO:
                        memo = d.memos[w.orb_id]
                        parent = memo["invoice_id"]
                        payload = self.memo_payload(memo, self.live_id((INVOICE, parent)) or "",
                                                    self.live_id((CUSTOMER, memo["customer_id"])))
                    else:
                        pay = d.payments[w.orb_id]
                        parent = pay["invoice_id"]
                        payload = self.payment_payload(pay, self.live_id((INVOICE, parent)) or "",
                                                       self.live_id((CUSTOMER, pay["customer_id"])))
                except KeyError:       # no longer in the marts: leave it to the put stages to explain
                    continue
                if (parent is None or parent not in replaced.get(INVOICE, set())) and self._unchanged(w, payload, found):
                    w.removal = None   # re-linked in the put stage (found by its Orb id, not sent)
                else:
                    if w.orb_id not in found:
                        w.removal = None   # already gone from the provider: only the create is left
                    out.append(w)
            replaced[otype] = {w.orb_id for w in out} | {w.orb_id for w in works if w.removal is None
                                                         and w.orb_id not in found}
            plan.setdefault("_replace_" + otype, []).extend(w for w in out if w.removal is not None)
        for otype in (PAYMENT, CREDIT_MEMO, INVOICE):
            works = plan.pop("_replace_" + otype, [])
            if otype == INVOICE:
                keep = []
                for w in works:
                    deps = [(CREDIT_MEMO, m) for m in d.memos_by_invoice.get(w.orb_id, [])]
                    deps += [(PAYMENT, p) for p in d.payments_by_invoice.get(w.orb_id, [])]
                    stuck = [k for k in deps if k in self.hist and self.hist[k].latest.status == st.FAILED
                             and self.hist[k].latest.run_id == self.run_id]
                    if stuck:
                        self.skip(w.key, "resync waits for its dependents: " + "; ".join(self.why_not_live(k) for k in stuck))
                        plan[INVOICE] = [x for x in plan[INVOICE] if x is not w]
                    else:
                        keep.append(w)
                works = keep
            for chunk in _chunks(works, self.batch):
                self._open_records(chunk)
                outcomes = self.provider.remove(otype, [w.removal for w in chunk])
                self.result.sent += len(chunk)
                ok = self._settle(chunk, outcomes, keep_pending=True)
                failed = {id(w) for w in chunk} - {id(w) for w in ok}
                plan[otype] = [w for w in plan[otype] if id(w) not in failed]
                for w in ok:
                    w.removal = None

    # 4. puts -----------------------------------------------------------------------------------------

    def _put(self, otype: str, works: list[Work]) -> None:
        for chunk in _chunks(works, self.batch):
            found = self.provider.find(otype, [w.orb_id for w in chunk])
            direct = [w for w in chunk if w.orb_id in found]
            send = [w for w in chunk if w.orb_id not in found]
            if direct:   # already in the provider (a create whose outcome was lost): record it, never resend
                fresh = [w for w in direct if w.record_id is None]
                if fresh:
                    ids = self.store.add(self.provider.name, self.run_id, [w.new_record() for w in fresh],
                                         status=st.PENDING)
                    for w, rid in zip(fresh, ids):
                        w.record_id = rid
                self._settle(direct, [Outcome(w.orb_id, found[w.orb_id]) for w in direct])
            if send:
                self._open_records(send)
                outcomes = self.provider.create(otype, [w.payload for w in send])
                self.result.sent += len(send)
                self._settle(send, outcomes)
            self._advance(len(chunk))

    def put_customers(self, plan: dict[str, list[Work]]) -> None:
        works = []
        for w in plan["customer"]:
            h = self.hist.get(w.key)
            if h is not None and h.latest.action == st.MAP and h.latest.status in (st.RESYNCED, st.RETRIED):
                # a mapped customer is re-linked, never created: check the mapped customer still exists
                try:
                    pid = self.provider.check_customer(h.latest.provider_id)
                    out = Outcome(w.orb_id, pid)
                except ProviderError as exc:
                    out = Outcome(w.orb_id, None, str(exc))
                w.action = st.MAP
                w.removal = Removal(w.orb_id, h.latest.provider_id, dt.date.today(), "resync")
                self._open_records([w])
                self._settle([w], [out])
            else:
                works.append(w)
        self._put(CUSTOMER, works)

    def put_invoices(self, plan: dict[str, list[Work]]) -> None:
        d, ready = self.data, []
        for w in plan["invoice"]:
            inv = d.invoices[w.orb_id]
            ckey = (CUSTOMER, inv["customer_id"])
            cpid = self.live_id(ckey)
            if cpid is None:
                self.skip(w.key, self.why_not_live(ckey))
                continue
            w.payload = self.invoice_payload(inv, cpid)
            ready.append(w)
        # a provider that numbers invoices (Tryton) needs them in date order
        ready.sort(key=lambda w: (w.payload.invoice_date, w.orb_id))
        self._put(INVOICE, ready)

    def put_memos(self, plan: dict[str, list[Work]]) -> None:
        self._put_invoice_children(
            CREDIT_MEMO, plan["credit_memo"], self.data.memos, self.memo_payload, lambda p: p.memo_date,
            gone=lambda memo: None if memo["is_live"] else "the credit note is no longer live in Orb")

    def put_payments(self, plan: dict[str, list[Work]]) -> None:
        self._put_invoice_children(
            PAYMENT, plan["payment"], self.data.payments, self.payment_payload, lambda p: p.payment_date)

    def _put_invoice_children(self, otype: str, works: list[Work], rows: dict, make_payload, date_of,
                              gone=None) -> None:
        """Credit memos and payments: each is sent once its invoice is live in the provider, in date order."""
        ready = []
        for w in works:
            row = rows[w.orb_id]
            ikey = (INVOICE, row["invoice_id"])
            ipid = self.live_id(ikey)
            reason = self.why_not_live(ikey) if ipid is None else (gone(row) if gone else None)
            if reason:
                self.skip(w.key, reason)
                continue
            inv = self.data.invoices[row["invoice_id"]]
            w.payload = make_payload(row, ipid, self.live_id((CUSTOMER, inv["customer_id"])))
            ready.append(w)
        ready.sort(key=lambda w: (date_of(w.payload), w.orb_id))
        self._put(otype, ready)

    # 5. removals -------------------------------------------------------------------------------------

    def _remove(self, otype: str, works: list[Work]) -> None:
        ready = []
        for w in works:
            if w.record_id is None:      # a fresh removal: of whatever is live now
                pid = self.live_id(w.key)
                if pid is None:
                    continue
                w.removal = Removal(w.orb_id, pid, w.removal.on_date, w.removal.why,
                                    w.removal.customer_provider_id, w.removal.currency)
            ready.append(w)
        works = ready
        for chunk in _chunks(works, self.batch):
            self._open_records(chunk)
            outcomes = self.provider.remove(otype, [w.removal for w in chunk])
            self.result.sent += len(chunk)
            self._settle(chunk, outcomes)
            self._advance(len(chunk))

    def remove_memos(self, plan: dict[str, list[Work]]) -> None:
        for w in plan["remove_memo"]:
            memo = self.data.memos[w.orb_id]
            w.removal = Removal(w.orb_id, w.removal.provider_id, w.removal.on_date, w.removal.why,
                                customer_provider_id=self.live_id((CUSTOMER, memo["customer_id"])),
                                currency=memo["currency"])
        self._remove(CREDIT_MEMO, plan["remove_memo"])

    def remove_invoices(self, plan: dict[str, list[Work]]) -> None:
        ready = []
        for w in plan["remove_invoice"]:
            blocking = [m for m in self.data.memos_by_invoice.get(w.orb_id, [])
                        if self.live_id((CREDIT_MEMO, m)) is not None]
            if w.record_id is None and self.live_id(w.key) is None:
                continue
            if blocking:
                self.skip(w.key, "its credit memos must be deleted first: "
                          + "; ".join(self.why_not_live_removal((CREDIT_MEMO, m)) for m in blocking))
                continue
            inv = self.data.invoices[w.orb_id]
            w.removal = Removal(w.orb_id, w.removal.provider_id, w.removal.on_date, w.removal.why,
                                customer_provider_id=self.live_id((CUSTOMER, inv["customer_id"])),
                                currency=inv["currency"])
            ready.append(w)
        self._remove(INVOICE, ready)

    def why_not_live_removal(self, key: tuple[str, str]) -> str:
        h = self.hist.get(key)
        if h and h.latest.status == st.FAILED:
            return f"{key[0]} {key[1]} {h.latest.action} failed (record {h.latest.record_id})"
        return f"{key[0]} {key[1]} is still in the provider"

    # --- payloads ---------------------------------------------------------------------------------

    def invoice_payload(self, inv: dict[str, Any], customer_pid: str) -> InvoicePayload:
        lines = []
        for l in self.data.lines.get(inv["invoice_id"], []):
            if self.settings.skip_zero_line_items and l["amount"] == 0 and l["tax_amount"] == 0:
                continue
            lines.append(LinePayload(
                orb_id=l["invoice_line_item_id"], description=l["line_name"] or l["invoice_line_item_id"],
                quantity=l["quantity"] if l["quantity"] is not None else Decimal(1), amount=l["amount"],
                tax_amount=l["tax_amount"], item_id=l["item_id"], start_date=_date(l["start_date"]),
                end_date=_date(l["end_date"])))
        customer = self.data.customers.get(inv["customer_id"], {})
        return InvoicePayload(
            orb_id=inv["invoice_id"], number=inv["invoice_number"], customer_orb_id=inv["customer_id"],
            customer_provider_id=customer_pid, customer_name=customer.get("customer_name") or inv["customer_id"],
            currency=inv["currency"], invoice_date=inv["invoice_date"], due_date=inv["due_date"], total=inv["total"],
            amount_due=inv["amount_due"], customer_balance_applied=inv["customer_balance_applied"],
            adjustment_amount=inv["adjustment_amount"], lines=tuple(lines), memo=inv["memo"])

    def memo_payload(self, memo: dict[str, Any], invoice_pid: str, customer_pid: str | None) -> CreditMemoPayload:
        lines = tuple(LinePayload(
            orb_id=l["credit_note_line_item_id"], description=l["line_name"] or l["credit_note_line_item_id"],
            quantity=l["quantity"] if l["quantity"] is not None else Decimal(1), amount=l["amount"],
            tax_amount=l["tax_amount"], item_id=l["item_id"], origin_line_id=l["invoice_line_item_id"])
            for l in self.data.memo_lines.get(memo["credit_note_id"], []))
        customer = self.data.customers.get(memo["customer_id"], {})
        return CreditMemoPayload(
            orb_id=memo["credit_note_id"], number=memo["credit_note_number"], invoice_orb_id=memo["invoice_id"],
            invoice_provider_id=invoice_pid, invoice_number=memo["invoice_number"], customer_orb_id=memo["customer_id"],
            customer_provider_id=customer_pid or "", customer_name=customer.get("customer_name") or memo["customer_id"],
            currency=memo["currency"], memo_date=memo["credit_note_date"], credit_note_type=memo["credit_note_type"],
            reason=memo["reason"], amount=memo["amount"], tax_amount=memo["tax_amount"], total=memo["total"],
            lines=lines)

    def payment_payload(self, pay: dict[str, Any], invoice_pid: str, customer_pid: str | None) -> PaymentPayload:
        customer = self.data.customers.get(pay["customer_id"], {})
        return PaymentPayload(
            orb_id=pay["payment_id"], invoice_orb_id=pay["invoice_id"], invoice_provider_id=invoice_pid,
            invoice_number=pay["invoice_number"], customer_orb_id=pay["customer_id"],
            customer_provider_id=customer_pid or "", customer_name=customer.get("customer_name") or pay["customer_id"],
            currency=pay["currency"], payment_date=pay["payment_date"], amount=pay["amount"],
            source=pay["payment_source"], payment_provider=pay["payment_provider"],
            payment_provider_id=pay["payment_provider_id"])


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]
