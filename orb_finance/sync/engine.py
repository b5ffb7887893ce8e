"""One accounting-sync pass (SPEC §5): settle what a dead run left pending, plan (planner.py), send, record.

Owns the executor: the order of a pass (pending attempts settled by looking them up; resyncs take their old
objects out; customers → invoices → credit memos → payments → customer-balance entries are sent, each once its
parents are live; removals come last, dependents first), the rule that every send is written `pending`
(committed) before the provider is called and every create is preceded by a lookup by Orb id (so a killed run
never leaves a duplicate), and the bookkeeping commands (resync, map-customer). A pass holds the state store's
lock (lock.py): one sync at a time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import redact
from ..errors import OrbFinanceError
from . import payloads as pl
from . import state as st
from .lock import StateLock
from .marts import SyncData, load_marts
from . import recognition
from .planner import (PUT_TYPES, SKIPPED, UNFINISHED, UP_TO_DATE, Key, Plan, Work, amount_text, as_date,
                      plan as make_plan)
from .providers import (BALANCE_TRANSACTION, CREDIT_MEMO, CUSTOMER, INVOICE, OBJECT_TYPES, PAYMENT, REVENUE_JOURNAL,
                        Outcome, Pending, Provider, ProviderError, ProviderUnavailable, Removal, provider_class)
from .settings import Settings

OBJECT_ALIASES = {"customer": CUSTOMER, "customers": CUSTOMER, "invoice": INVOICE, "invoices": INVOICE,
                  "credit_memo": CREDIT_MEMO, "credit-memo": CREDIT_MEMO, "credit_memos": CREDIT_MEMO,
                  "credit_note": CREDIT_MEMO, "credit-note": CREDIT_MEMO, "memo": CREDIT_MEMO,
                  "payment": PAYMENT, "payments": PAYMENT,
                  "balance_transaction": BALANCE_TRANSACTION, "balance-transaction": BALANCE_TRANSACTION,
                  "balance_transactions": BALANCE_TRANSACTION, "balance": BALANCE_TRANSACTION}

__all__ = ["SyncEngine", "RunResult", "object_type", "load_marts", "SyncData", "UP_TO_DATE", "SKIPPED"]


def object_type(name: str) -> str:
    try:
        return OBJECT_ALIASES[name.strip().lower()]
    except KeyError:
        raise OrbFinanceError(f"Unknown object type {name!r}; one of: {', '.join(OBJECT_TYPES)}.") from None


# --- the result of a pass -------------------------------------------------------------------------------

@dataclass
class RunResult:
    run_id: str
    provider: str
    counts: Counter = field(default_factory=Counter)          # (object_type, status) -> n
    skips: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[st.Record] = field(default_factory=list)
    changed: list[Key] = field(default_factory=list)          # synced objects whose Orb data changed since
    notes: list[str] = field(default_factory=list)            # e.g. journal corrections waiting for a month to end
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


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


class SyncEngine:
    """The sync for one settings file. `only` restricts a pass to some objects (resync)."""

    def __init__(self, settings: Settings, duckdb_path: str | Path | None = None, *, provider: Provider | None = None,
                 console: Console | None = None, show_progress: bool = True, data: SyncData | None = None):
        self.settings = settings
        self.duckdb_path = duckdb_path
        self._provider = provider
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self._data = data

    # --- public entry points (each holds the state store's lock) ------------------------------------

    def run(self, only: set[Key] | None = None) -> RunResult:
        with StateLock(self.settings.state_path, "orbfin sync run"):
            return self._run(only)

    def resync(self, object_type_name: str, orb_id: str) -> RunResult:
        """Mark the object's synced record `resynced` (an invoice: with its payments and credit memos) and send
        them again now: the old provider objects are taken out and new ones created."""
        otype = object_type(object_type_name)
        with StateLock(self.settings.state_path, f"orbfin sync resync {otype} {orb_id}"):
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
                    status = ("never synced" if history is None else
                              f"{history.latest.status} ({history.latest.action}, record {history.latest.record_id})")
                    raise OrbFinanceError(f"{otype} {orb_id} is {status}: only a synced object can be resynced"
                                          + (" (a failed one is retried: orbfin sync retry)."
                                             if history and history.latest.status == st.FAILED else "."))
                marked = store.mark_resynced(self.settings.provider, keys)
            return self._run(only={(r.object_type, r.orb_id) for r in marked})

    def map_customer(self, orb_customer_id: str, provider_customer_id: str) -> st.Record:
        with StateLock(self.settings.state_path, f"orbfin sync map-customer {orb_customer_id}"):
            provider = self._provider or self.make_provider()
            try:
                try:
                    canonical = provider.check_customer(provider_customer_id)
                except ProviderError as exc:
                    raise OrbFinanceError(redact.redact(f"{self.settings.provider}: cannot map to customer "
                                                        f"{provider_customer_id!r}: {exc}")) from None
            finally:
                provider.close()
            with st.StateStore(self.settings.state_path) as store:
                rid, = store.add(provider.name, None, [st.NewRecord(CUSTOMER, orb_customer_id, st.MAP,
                                                                    provider_id=canonical)], status=st.SYNCED)
                return store.get(rid)

    def make_provider(self) -> Provider:
        try:
            return provider_class(self.settings.provider).from_settings(self.settings)
        except (ProviderUnavailable, ProviderError) as exc:
            raise OrbFinanceError(redact.redact(f"{self.settings.provider}: {exc}")) from None

    # --- one pass ------------------------------------------------------------------------------------

    def _run(self, only: set[Key] | None) -> RunResult:
        started = time.monotonic()
        data = self._data or load_marts(self.duckdb_path)
        provider = self._provider or self.make_provider()
        provider.prepare(data)
        store = st.StateStore(self.settings.state_path)
        run_id = store.begin_run(provider.name, self.settings.describe())
        executor = Executor(self, data, provider, store, run_id, only)
        outcome = "crashed"
        try:
            try:
                executor.execute()
                outcome = "failures" if executor.result.failures else "ok"
            except ProviderUnavailable as exc:
                executor.result.aborted = redact.redact(str(exc))
                outcome = "aborted"
            finally:
                try:
                    provider.close()
                except (ProviderError, ProviderUnavailable) as exc:      # e.g. the ledger check after the run
                    executor.result.aborted = redact.redact(str(exc))
                    outcome = "aborted"
        finally:
            result = executor.result
            result.elapsed = time.monotonic() - started
            store.finish_run(run_id, outcome, {f"{t}:{s}": n for (t, s), n in result.counts.items()}, result.skips,
                             provider.name, replace_skips=only is None)
            if only is None:
                store.set_meta(f"changed:{provider.name}", ",".join(f"{t}/{o}" for t, o in result.changed))
            store.close()
        return result


class Executor:
    """Sends a plan and records every attempt: the state of one pass."""

    def __init__(self, engine: SyncEngine, data: SyncData, provider: Provider, store: st.StateStore, run_id: str,
                 only: set[Key] | None):
        self.engine, self.settings, self.data = engine, engine.settings, data
        self.provider, self.store, self.run_id, self.only = provider, store, run_id, only
        self.hist = store.histories(provider.name)
        self.result = RunResult(run_id=run_id, provider=provider.name)
        self.skipped: dict[Key, str] = {}
        self.batch = max(1, int(provider.batch_size))
        self.progress: Progress | None = None
        self.task = None

    # --- bookkeeping ---------------------------------------------------------------------------------

    def in_scope(self, key: Key) -> bool:
        return self.only is None or key in self.only

    def skip(self, key: Key, reason: str) -> None:
        if key not in self.skipped:
            self.skipped[key] = reason
            self.result.skips.append((key[0], key[1], reason))
            self.result.counts[(key[0], SKIPPED)] += 1

    def live_id(self, key: Key) -> str | None:
        h = self.hist.get(key)
        return h.live_provider_id if h else None

    def why_not_live(self, key: Key) -> str:
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
              error: str | None, pending_ref: str | None = None, content: str | None = None) -> None:
        """Mirror a new or settled attempt into the in-memory histories (History.apply: the one liveness rule)."""
        h = self.hist.get((otype, oid))
        if content is None and h is not None and h.latest.record_id == rec_id:
            content = h.latest.content             # a pending attempt settled: what it booked stays known
        rec = st.Record(rec_id, st.utc_now(), otype, oid, self.provider.name, action, provider_id, status, error,
                        None, None, None, None, self.run_id, pending_ref, content)
        if h is None:
            self.hist[(otype, oid)] = st.History(latest=rec).apply(rec)
        else:
            h.apply(rec)
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
            elif out.pending_ref is not None:
                resolutions.append(st.Resolution(w.record_id, st.PENDING, pending_ref=redact.redact(out.pending_ref)))
            else:
                resolutions.append(st.Resolution(w.record_id, st.FAILED, None,
                                                 redact.redact(out.error or "the provider did not say")))
        self.store.resolve(resolutions)
        for w, out in zip(works, outcomes):
            if out.ok and keep_pending:
                continue
            if out.ok:
                self._note(w.record_id, w.object_type, w.orb_id, w.action, st.SYNCED, out.provider_id, None,
                           content=w.content)
            elif out.pending_ref is not None:
                self._note(w.record_id, w.object_type, w.orb_id, w.action, st.PENDING, None, None, out.pending_ref)
            else:
                self._note(w.record_id, w.object_type, w.orb_id, w.action, st.FAILED, None,
                           redact.redact(out.error or "the provider did not say"))
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
                               [pl.payload_hash(w.payload) if w.payload is not None else None for w in resumed])

    def _advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    # --- the pass -------------------------------------------------------------------------------------

    def execute(self) -> None:
        resume = self.resolve_pending()
        frontiers = self.journal_frontiers()
        plan = make_plan(self.data, self.hist, self.settings, run_id=self.run_id, resume=resume, only=self.only,
                         journal_frontiers=frontiers)
        for key, reason in plan.skips.items():
            self.skip(key, reason)
        self.result.notes = list(plan.notes)
        for otype, n in plan.up_to_date.items():
            self.result.counts[(otype, UP_TO_DATE)] += n
        self.result.changed = list(plan.changed)
        total = plan.size()
        show = self.engine.show_progress and total > 0
        if show:
            self.progress = Progress(TextColumn("sync {task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.engine.console, transient=True)
            self.progress.__enter__()
            self.task = self.progress.add_task(self.provider.name, total=total)
        try:
            self.take_out_resynced(plan)
            for otype in PUT_TYPES:
                if otype in self.provider.OBJECT_TYPES:
                    self.put(otype, plan.puts[otype])
                else:
                    for w in plan.puts[otype]:
                        self.skip(w.key, f"the {self.provider.name} provider does not book {otype} objects")
            self.remove(CREDIT_MEMO, plan.removals[CREDIT_MEMO])
            self.remove(PAYMENT, plan.removals[PAYMENT])
            self.remove(BALANCE_TRANSACTION, plan.removals[BALANCE_TRANSACTION])
            self.remove_invoices(plan.removals[INVOICE])
            self.advance_journal_frontiers(frontiers)
        finally:
            if show:
                self.progress.__exit__(None, None, None)

    # revenue recognition: the last month each currency's journals have processed --------------------

    def _frontier_key(self, currency: str) -> str:
        return f"journal_frontier:{self.provider.name}:{currency}"

    def journal_frontiers(self) -> dict[str, dt.date]:
        if self.settings.revenue_recognition != "warehouse":
            return {}
        out = {}
        for currency in recognition.currencies_of(self.data.revenue_monthly, self.data.rollforward):
            value = self.store.get_meta(self._frontier_key(currency))
            if value:
                out[currency] = dt.date.fromisoformat(value)
        return out

    def advance_journal_frontiers(self, before: dict[str, dt.date]) -> None:
        """After a full pass, every ended month of a currency whose journals are all in the books is processed,
        a quiet one included (its later changes become corrections, never a back-dated entry)."""
        if self.settings.revenue_recognition != "warehouse" or self.only is not None:
            return
        last = recognition.last_ended_month(planner_as_of(self.data))
        for currency in recognition.currencies_of(self.data.revenue_monthly, self.data.rollforward):
            open_ = [h for (t, oid), h in self.hist.items() if t == REVENUE_JOURNAL and oid.endswith(":" + currency)
                     and h.latest.status in (st.FAILED, st.PENDING, st.RETRIED)]
            if not open_ and (before.get(currency) is None or before[currency] < last):
                self.store.set_meta(self._frontier_key(currency), last.isoformat())

    # 1. pending attempts of a dead run (or an asynchronous provider) -----------------------------------

    def resolve_pending(self) -> dict[Key, Work]:
        """Settle every object whose latest attempt is pending. An asynchronous job is asked about (provider.settle);
        any other pending attempt is looked up by Orb id: found (and not the object a resync was replacing) →
        synced; not found → the same record is sent again (returned)."""
        resume: dict[Key, Work] = {}
        for otype in OBJECT_TYPES:
            pending = [h.latest for (t, _), h in self.hist.items()
                       if t == otype and h.latest.status == st.PENDING and self.in_scope((t, h.latest.orb_id))]
            jobs = [r for r in pending if r.pending_ref]
            for chunk in _chunks(jobs, self.batch):
                outcomes = self.provider.settle(otype, [Pending(r.orb_id, r.action, r.provider_id, r.pending_ref)
                                                        for r in chunk])
                for rec, out in zip(chunk, outcomes):
                    if out.not_found:
                        resume[(otype, rec.orb_id)] = Work(otype, rec.orb_id, rec.action, record_id=rec.record_id)
                    elif out.pending_ref is None:
                        w = Work(otype, rec.orb_id, rec.action, record_id=rec.record_id)
                        self._settle([w], [out])
            plain = [r for r in pending if not r.pending_ref]
            for chunk in _chunks(plain, self.batch):
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
                by_id = {r.record_id: r for r in chunk}
                for res in settled:
                    rec = by_id[res.record_id]
                    self._note(rec.record_id, otype, rec.orb_id, rec.action, st.SYNCED, res.provider_id, None)
        return resume

    # 2. payloads, built when the parents are live --------------------------------------------------

    def payload_for(self, w: Work) -> Any:
        """The payload of a put, or a skip reason (str) when a parent is not live or the object is gone."""
        d = self.data
        for parent in w.parents:
            if self.live_id(parent) is None:
                return self.why_not_live(parent)
        otype, oid = w.key
        if otype == CUSTOMER:
            return w.payload
        if otype == INVOICE:
            inv = d.invoices[oid]
            return pl.invoice_payload(d, inv, self.live_id((CUSTOMER, inv["customer_id"])),
                                      skip_zero_lines=self.settings.skip_zero_line_items)
        if otype == CREDIT_MEMO:
            memo = d.memos[oid]
            if not memo["is_live"]:
                return "the credit note is no longer live in Orb"
            return pl.memo_payload(d, memo, self.live_id((INVOICE, memo["invoice_id"])),
                                   self.live_id((CUSTOMER, memo["customer_id"])))
        if otype == PAYMENT:
            pay = d.payments[oid]
            return pl.payment_payload(d, pay, self.live_id((INVOICE, pay["invoice_id"])),
                                      self.live_id((CUSTOMER, pay["customer_id"])))
        if otype == BALANCE_TRANSACTION:
            row = d.balances[oid]
            return pl.balance_payload(d, row, self.live_id((CUSTOMER, row["customer_id"])))
        if otype == REVENUE_JOURNAL:
            return w.payload                      # built by the planner from the warehouse and earlier journals
        raise ValueError(otype)

    # 3. resync phase A: take out what must be replaced, dependents first ---------------------------

    def _unchanged(self, w: Work, payload: Any, found: dict[str, str]) -> bool:
        """Still live in the provider as we left it: the same object and the same payload as last sent."""
        h = self.hist.get(w.key)
        last = h.last_put if h else None
        return (w.removal is not None and found.get(w.orb_id) == w.removal.provider_id and last is not None
                and last.payload_hash == pl.payload_hash(payload))

    def take_out_resynced(self, plan: Plan) -> None:
        """A resync sends again what changed or went missing. An object still in the provider exactly as it
        was sent is re-linked (a new synced record, same provider id): re-creating it would only add noise
        (and Tryton cannot number an old document after newer ones). A replaced invoice takes its payments
        and credit memos with it, since they point at it; those are taken out first."""
        d, replaced = self.data, {}
        to_take_out: dict[str, list[Work]] = {}
        for otype in (INVOICE, CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION):
            works = [w for w in plan.puts[otype] if w.action == st.RESYNC and w.removal is not None]
            found = self.provider.find(otype, [w.orb_id for w in works]) if works else {}
            out = []
            for w in works:
                try:
                    if otype == INVOICE:
                        inv = d.invoices[w.orb_id]
                        payload = pl.invoice_payload(d, inv, self.live_id((CUSTOMER, inv["customer_id"])) or "",
                                                     skip_zero_lines=self.settings.skip_zero_line_items)
                        parent = None
                    elif otype == CREDIT_MEMO:
                        memo = d.memos[w.orb_id]
                        parent = memo["invoice_id"]
                        payload = pl.memo_payload(d, memo, self.live_id((INVOICE, parent)) or "",
                                                  self.live_id((CUSTOMER, memo["customer_id"])))
                    elif otype == PAYMENT:
                        pay = d.payments[w.orb_id]
                        parent = pay["invoice_id"]
                        payload = pl.payment_payload(d, pay, self.live_id((INVOICE, parent)) or "",
                                                     self.live_id((CUSTOMER, pay["customer_id"])))
                    else:
                        row = d.balances[w.orb_id]
                        parent = None
                        payload = pl.balance_payload(d, row, self.live_id((CUSTOMER, row["customer_id"])) or "")
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
            to_take_out[otype] = [w for w in out if w.removal is not None]
        for otype in (PAYMENT, CREDIT_MEMO, BALANCE_TRANSACTION, INVOICE):
            works = to_take_out.get(otype, [])
            if otype == INVOICE:
                keep = []
                for w in works:
                    deps = [(CREDIT_MEMO, m) for m in d.memos_by_invoice.get(w.orb_id, [])]
                    deps += [(PAYMENT, p) for p in d.payments_by_invoice.get(w.orb_id, [])]
                    stuck = [k for k in deps if k in self.hist and self.hist[k].latest.status == st.FAILED
                             and self.hist[k].latest.run_id == self.run_id]
                    if stuck:
                        self.skip(w.key, "resync waits for its dependents: " + "; ".join(self.why_not_live(k) for k in stuck))
                        plan.puts[INVOICE] = [x for x in plan.puts[INVOICE] if x is not w]
                    else:
                        keep.append(w)
                works = keep
            for chunk in _chunks(works, self.batch):
                self._open_records(chunk)
                outcomes = self.provider.remove(otype, [w.removal for w in chunk])
                self.result.sent += len(chunk)
                ok = self._settle(chunk, outcomes, keep_pending=True)
                failed = {id(w) for w in chunk} - {id(w) for w in ok}
                plan.puts[otype] = [w for w in plan.puts[otype] if id(w) not in failed]
                for w in ok:
                    w.removal = None

    # 4. puts -----------------------------------------------------------------------------------------

    def put(self, otype: str, works: list[Work]) -> None:
        if otype == CUSTOMER:
            works = self._relink_mapped(works)
        ready = []
        for w in works:
            payload = self.payload_for(w)
            if isinstance(payload, str):
                self.skip(w.key, payload)
                continue
            w.payload = payload
            ready.append(w)
        # a provider that numbers documents (Tryton) needs them in date order
        ready.sort(key=lambda w: (_date_of(w.payload), w.orb_id))
        for chunk in _chunks(ready, self.batch):
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

    def _relink_mapped(self, works: list[Work]) -> list[Work]:
        """A mapped customer marked resynced or retried is re-linked, never created: the mapped customer is
        checked to still exist."""
        rest = []
        for w in works:
            h = self.hist.get(w.key)
            if h is not None and h.latest.action == st.MAP and h.latest.status in (st.RESYNCED, st.RETRIED):
                try:
                    out = Outcome(w.orb_id, self.provider.check_customer(h.latest.provider_id))
                except ProviderError as exc:
                    out = Outcome(w.orb_id, None, str(exc))
                w.action = st.MAP
                w.removal = Removal(w.orb_id, h.latest.provider_id, dt.date.today(), "resync")
                self._open_records([w])
                self._settle([w], [out])
            else:
                rest.append(w)
        return rest

    # 5. removals -------------------------------------------------------------------------------------

    def remove(self, otype: str, works: list[Work]) -> None:
        ready = []
        for w in works:
            if w.record_id is None:      # a fresh removal: of whatever is live now
                pid = self.live_id(w.key)
                if pid is None:
                    continue
            else:
                pid = w.removal.provider_id
            customer_pid, currency = self._removal_context(otype, w.orb_id)
            w.removal = Removal(w.orb_id, pid, w.removal.on_date, w.removal.why, customer_pid, currency)
            ready.append(w)
        for chunk in _chunks(ready, self.batch):
            self._open_records(chunk)
            outcomes = self.provider.remove(otype, [w.removal for w in chunk])
            self.result.sent += len(chunk)
            self._settle(chunk, outcomes)
            self._advance(len(chunk))

    def _removal_context(self, otype: str, orb_id: str) -> tuple[str | None, str | None]:
        d = self.data
        row = {CREDIT_MEMO: d.memos, PAYMENT: d.payments, BALANCE_TRANSACTION: d.balances,
               INVOICE: d.invoices}[otype].get(orb_id)
        if row is None:
            return None, None
        return self.live_id((CUSTOMER, row["customer_id"])), row["currency"]

    def remove_invoices(self, works: list[Work]) -> None:
        ready = []
        for w in works:
            if w.record_id is None and self.live_id(w.key) is None:
                continue
            deps = [(CREDIT_MEMO, m) for m in self.data.memos_by_invoice.get(w.orb_id, [])]
            deps += [(PAYMENT, p) for p in self.data.payments_by_invoice.get(w.orb_id, [])]
            blocking = [k for k in deps if self.live_id(k) is not None]
            if blocking:
                self.skip(w.key, "its credit memos and payments must be taken out first: "
                          + "; ".join(self.why_not_removed(k) for k in blocking))
                continue
            ready.append(w)
        self.remove(INVOICE, ready)

    def why_not_removed(self, key: Key) -> str:
        h = self.hist.get(key)
        if h and h.latest.status == st.FAILED:
            return f"{key[0]} {key[1]} {h.latest.action} failed (record {h.latest.record_id})"
        return f"{key[0]} {key[1]} is still in the provider"


def planner_as_of(data: SyncData) -> dt.date:
    return as_date(data.as_of_date) or dt.date.today()


def _date_of(payload: Any) -> dt.date:
    for name in ("invoice_date", "memo_date", "payment_date", "transaction_date", "entry_date"):
        value = getattr(payload, name, None)
        if value is not None:
            return value
    return dt.date.min
