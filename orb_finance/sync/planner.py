"""What a sync pass does, decided without a provider: a pure function of the sync marts, the sync history and
the settings (and, after a crash, the pending attempts the executor found missing in the provider).

Owns the per-object rules of SPEC §5: what should exist in the provider (an issued invoice in scope, its live
credit memos and payments, its customer, the customer-balance movements no document books), what must be taken
out (a voided invoice with its memos and payments, a voided or deleted memo, a deleted payment or balance
movement), what waits (a failed record until `orbfin sync retry`), and what is up to date or has changed in Orb
since it was sent (listed, never re-sent without `orbfin sync resync`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import payloads as pl
from . import state as st
from .marts import SyncData
from . import recognition as rr
from .providers.base import BALANCE_TRANSACTION, CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT, REVENUE_JOURNAL, Removal
from .settings import Settings

Key = tuple[str, str]
UP_TO_DATE, SKIPPED = "up to date", "skipped"
# The statuses of an attempt a run still has to finish.
UNFINISHED = (st.PENDING, st.RETRIED, st.RESYNCED)
PUT_TYPES = (CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION, REVENUE_JOURNAL)
# Removals run dependents first: an invoice is voided after its memos are deleted and its payments reversed.
REMOVAL_TYPES = (CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION, INVOICE)


@dataclass
class Work:
    object_type: str
    orb_id: str
    action: str                              # create | resync | map | void | delete
    payload: Any = None                      # the payload of a put (built when its parents are live)
    removal: Removal | None = None           # what to take out (void/delete, or the old object of a resync)
    record_id: int | None = None             # an attempt to continue (a pending one of a dead run)
    invoice_number: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    parents: tuple[Key, ...] = ()            # must be live in the provider before this put is sent

    @property
    def key(self) -> Key:
        return (self.object_type, self.orb_id)

    def new_record(self) -> st.NewRecord:
        return st.NewRecord(
            object_type=self.object_type, orb_id=self.orb_id, action=self.action,
            payload_hash=pl.payload_hash(self.payload) if self.payload is not None else None,
            provider_id=self.removal.provider_id if self.removal else None,
            invoice_number=self.invoice_number, amount=amount_text(self.amount), currency=self.currency,
            content=self.content)

    @property
    def content(self) -> str | None:
        """What later runs need to know the attempt booked: a revenue journal's lines."""
        return self.payload.to_json() if isinstance(self.payload, pl.RevenueJournalPayload) else None


@dataclass
class Plan:
    puts: dict[str, list[Work]] = field(default_factory=lambda: {t: [] for t in PUT_TYPES})
    removals: dict[str, list[Work]] = field(default_factory=lambda: {t: [] for t in REMOVAL_TYPES})
    skips: dict[Key, str] = field(default_factory=dict)
    up_to_date: Counter = field(default_factory=Counter)
    changed: list[Key] = field(default_factory=list)    # synced, but Orb's data changed since (not re-sent)
    notes: list[str] = field(default_factory=list)      # e.g. journal corrections waiting for a month to end

    def skip(self, key: Key, reason: str) -> None:
        self.skips.setdefault(key, reason)

    def size(self) -> int:
        return sum(len(v) for v in self.puts.values()) + sum(len(v) for v in self.removals.values())


def amount_text(amount: Decimal | str | None) -> str | None:
    if amount is None:
        return None
    amount = Decimal(amount)
    q = amount.normalize()
    if q.as_tuple().exponent > -2:
        q = q.quantize(Decimal("0.01"))
    return format(q, "f")


def as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def invoice_filter(settings: Settings, inv: dict[str, Any]) -> str | None:
    """Why a settings filter keeps an invoice out of the sync (SPEC §5 settings), or None."""
    s = settings
    if s.minimum_issue_date and inv["issued_date"] < s.minimum_issue_date:
        return f"issued {inv['issued_date']}, before minimum_issue_date {s.minimum_issue_date}"
    if s.minimum_amount is not None and inv["total"] < s.minimum_amount:
        return f"total {amount_text(inv['total'])} {inv['currency']} is below minimum_amount {s.minimum_amount}"
    if s.skip_zero_invoices and inv["total"] == 0:
        return "zero invoice (skip_zero_invoices)"
    return None


def balance_filter(settings: Settings, row: dict[str, Any]) -> str | None:
    if settings.minimum_issue_date and row["transaction_date"] < settings.minimum_issue_date:
        return f"dated {row['transaction_date']}, before minimum_issue_date {settings.minimum_issue_date}"
    return None


class Planner:
    """plan() for one pass. `resume`: pending attempts of a dead run that the provider does not have (sent
    again under the same record); `only`: the objects of a resync."""

    def __init__(self, data: SyncData, hist: dict[Key, st.History], settings: Settings, *, run_id: str,
                 resume: dict[Key, Work] | None = None, only: set[Key] | None = None,
                 journal_frontiers: dict[str, dt.date] | None = None):
        self.data, self.hist, self.settings, self.run_id = data, hist, settings, run_id
        self.journal_frontiers = dict(journal_frontiers or {})
        self.resume = dict(resume or {})
        self.only = only
        self.plan = Plan()

    # --- small rules --------------------------------------------------------------------------------

    def in_scope(self, key: Key) -> bool:
        return self.only is None or key in self.only

    def unfinished(self, key: Key) -> bool:
        """An attempt on the object is still open: pending, marked retried or resynced, or resumed after a crash."""
        h = self.hist.get(key)
        return key in self.resume or (h is not None and h.latest.status in UNFINISHED)

    def live_id(self, key: Key) -> str | None:
        h = self.hist.get(key)
        return h.live_provider_id if h else None

    def put_action(self, key: Key, wanted: bool) -> Work | str | None:
        """For an object that should exist in the provider: a Work, a skip reason, or None (nothing to do)."""
        if key in self.resume and self.resume[key].action in st.PUTS:
            return self.resume.pop(key)
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
                self.plan.up_to_date[key[0]] += 1
            return None
        if wanted and rec.action in st.REMOVES and rec.status == st.SYNCED:
            return Work(key[0], key[1], st.CREATE)        # taken out earlier, wanted again (e.g. undeleted in Orb)
        return None

    def planned_put(self, key: Key, wanted: bool) -> Work | None:
        w = self.put_action(key, wanted)
        if isinstance(w, str):
            self.plan.skip(key, w)
            return None
        return w

    def removal_action(self, key: Key, action: str, when: Any) -> Work | None:
        if not self.in_scope(key):
            return None
        on_date = as_date(when) or dt.date.today()
        if key in self.resume and self.resume[key].action in st.REMOVES:
            w = self.resume.pop(key)
            w.removal = Removal(key[1], self.hist[key].latest.provider_id if key in self.hist else None, on_date, action)
            return w
        h = self.hist.get(key)
        if h is None:
            return None
        rec = h.latest
        if rec.action in st.REMOVES:
            if rec.status == st.RETRIED:
                return Work(key[0], key[1], action, removal=Removal(key[1], rec.provider_id, on_date, action))
            if rec.status == st.FAILED:
                self.plan.skip(key, f"{rec.action} failed (record {rec.record_id}): not retried until "
                                    f"orbfin sync retry {rec.record_id}")
            return None
        if h.live_provider_id or rec.status in UNFINISHED:
            # the provider id is read when the removal runs: a put earlier in this pass may replace it
            return Work(key[0], key[1], action, removal=Removal(key[1], None, on_date, action))
        return None

    def note_changed(self, key: Key, payload: Any) -> None:
        """A synced object whose payload, built from today's marts, differs from what was sent."""
        h = self.hist.get(key)
        if h is None or h.latest.status != st.SYNCED or h.latest.action not in st.PUTS or h.last_put is None:
            return
        if h.last_put.payload_hash and h.last_put.payload_hash != pl.payload_hash(payload):
            self.plan.changed.append(key)

    # --- the plan ----------------------------------------------------------------------------------------

    def build(self) -> Plan:
        d, plan = self.data, self.plan
        invoice_works = self._invoices()
        balance_works = self._balances()
        needed = {inv["customer_id"] for _, inv in invoice_works}
        needed |= {d.balances[w.orb_id]["customer_id"] for w in balance_works}
        for (otype, oid), h in self.hist.items():
            if otype == CUSTOMER and h.latest.status in UNFINISHED and self.in_scope((otype, oid)):
                needed.add(oid)
        self._customers(needed)
        for w, inv in invoice_works:
            w.invoice_number, w.amount, w.currency = inv["invoice_number"], inv["total"], inv["currency"]
            w.parents = ((CUSTOMER, inv["customer_id"]),)
            plan.puts[INVOICE].append(w)
        self._memos()
        self._payments()
        plan.puts[BALANCE_TRANSACTION].extend(balance_works)
        self._journals()
        self._removals()
        # resumed attempts of objects no longer in the marts: left pending, and said so
        planned = {id(w) for works in (*plan.puts.values(), *plan.removals.values()) for w in works}
        for key, w in self.resume.items():
            if id(w) not in planned:
                plan.skip(key, f"record {w.record_id} is pending but the object is no longer in the sync marts")
        self._changed()
        return plan

    def _invoices(self) -> list[tuple[Work, dict]]:
        out = []
        for iid, inv in self.data.invoices.items():
            key = (INVOICE, iid)
            if not self.in_scope(key):
                continue
            h = self.hist.get(key)
            wanted = not inv["is_voided"]
            if wanted and h is None and key not in self.resume:
                reason = invoice_filter(self.settings, inv)
                if reason:
                    self.plan.skip(key, reason)
                    continue
            if inv["is_voided"] and not self.unfinished(key):
                continue   # handled by the void stage (or never sent)
            w = self.planned_put(key, wanted)
            if w is not None:
                out.append((w, inv))
        return out

    def _customers(self, needed: set[str]) -> None:
        d = self.data
        for cid in sorted(needed):
            key = (CUSTOMER, cid)
            row = d.customers.get(cid)
            if row is None:
                self.plan.skip(key, "not in marts.sync_customers")
                continue
            h = self.hist.get(key)
            if h is not None and h.live_provider_id and h.latest.status == st.SYNCED:
                continue
            if h is None and key not in self.resume and not self.settings.create_customers:
                self.plan.skip(key, "no provider customer is mapped and create_customers is off "
                                    f"(orbfin sync map-customer {cid} PROVIDER_CUSTOMER_ID)")
                continue
            w = self.planned_put(key, True)
            if w is not None:
                w.payload = pl.customer_payload(row)
                self.plan.puts[CUSTOMER].append(w)

    def _memos(self) -> None:
        for mid, memo in self.data.memos.items():
            key = (CREDIT_MEMO, mid)
            if not self.in_scope(key):
                continue
            wanted = bool(memo["is_live"])
            if not wanted and not self.unfinished(key):
                continue
            w = self.planned_put(key, wanted)
            if w is not None:
                w.invoice_number, w.amount, w.currency = memo["invoice_number"], memo["total"], memo["currency"]
                w.parents = ((INVOICE, memo["invoice_id"]),)
                self.plan.puts[CREDIT_MEMO].append(w)

    def _payments(self) -> None:
        d = self.data
        for pid, pay in d.payments.items():
            key = (PAYMENT, pid)
            if not self.in_scope(key):
                continue
            inv = d.invoices.get(pay["invoice_id"])
            wanted = bool(pay["is_live"]) and inv is not None and not inv["is_voided"]
            if not wanted and not self.unfinished(key):
                if key not in self.hist and inv is not None and inv["is_voided"]:
                    self.plan.skip(key, f"invoice {pay['invoice_id']} was voided in Orb")
                continue
            w = self.planned_put(key, wanted)
            if w is not None:
                w.invoice_number, w.amount, w.currency = pay["invoice_number"], pay["amount"], pay["currency"]
                w.parents = ((INVOICE, pay["invoice_id"]),)
                self.plan.puts[PAYMENT].append(w)

    def _balances(self) -> list[Work]:
        out = []
        for bid, row in self.data.balances.items():
            key = (BALANCE_TRANSACTION, bid)
            if not self.in_scope(key):
                continue
            wanted = not row["is_deleted"] and row["amount_to_book"] != 0
            if wanted and key not in self.hist and key not in self.resume:
                reason = balance_filter(self.settings, row)
                if reason is None and row["customer_id"] not in self.data.customers:
                    reason = (f"customer {row['customer_id']} has no issued invoice yet (a customer is synced with "
                              "its first invoice; its balance follows)")
                if reason:
                    self.plan.skip(key, reason)
                    continue
            if not wanted and not self.unfinished(key):
                continue
            w = self.planned_put(key, wanted)
            if w is not None:
                w.amount, w.currency = row["amount_to_book"], row["currency"]
                w.parents = ((CUSTOMER, row["customer_id"]),)
                out.append(w)
        return out

    def _journals(self) -> None:
        """SPEC §5.2, with revenue_recognition: warehouse: the journal of every ended month after the last one in
        the books, per currency, in order (recognition.py); a failed journal holds back the later months."""
        if self.settings.revenue_recognition != "warehouse" or not self.in_scope_type(REVENUE_JOURNAL):
            return
        d = self.data
        if not d.revenue_monthly and not d.rollforward:
            self.plan.notes.append("revenue_recognition is warehouse, but the warehouse has no revenue_monthly or "
                                   "deferred_revenue_rollforward: build every model")
            return
        as_of = as_date(d.as_of_date) or dt.date.today()
        journals: dict[str, list] = {}
        failed: dict[str, Key] = {}
        for key, h in self.hist.items():
            if key[0] != REVENUE_JOURNAL:
                continue
            month, currency = rr.parse_journal_id(key[1])
            if h.live_provider_id and h.last_put is not None:
                journals.setdefault(currency, []).append((month, pl.RevenueJournalPayload.lines_from_json(h.last_put.content)))
                if h.latest.status == st.SYNCED and h.latest.run_id != self.run_id:
                    self.plan.up_to_date[REVENUE_JOURNAL] += 1     # journaled: never sent again
            if h.latest.status == st.FAILED and key not in self.resume:
                failed[currency] = key
        for currency in sorted(set(rr.currencies_of(d.revenue_monthly, d.rollforward)) | set(journals)):
            booked = rr.Booked.of(journals.get(currency, []), self.journal_frontiers.get(currency))
            planned = rr.plan_currency(currency, d.revenue_monthly, d.rollforward, booked, as_of,
                                       blocked=currency in failed, minor_unit=d.minor_units.get(currency, 2))
            if currency in failed:
                h = self.hist[failed[currency]]
                self.plan.skip(failed[currency], f"failed (record {h.latest.record_id}): not retried until orbfin sync "
                                                 f"retry {h.latest.record_id}; the later months' journals wait for it")
            for payload in planned.journals:
                w = self.planned_put((REVENUE_JOURNAL, payload.orb_id), True)
                if w is None:
                    continue
                w.payload, w.currency = payload, currency
                w.amount = -sum((l.amount for l in payload.lines if l.kind in pl.REVENUE_KINDS), Decimal(0))
                self.plan.puts[REVENUE_JOURNAL].append(w)
            if planned.waiting:
                months = sorted({f"{l.month:%Y-%m}" for l in planned.waiting})
                self.plan.notes.append(f"{currency}: changes to journaled months {', '.join(months)} wait for the next "
                                       "month to end (they land in its journal as corrections)")

    def in_scope_type(self, object_type: str) -> bool:
        return self.only is None or any(k[0] == object_type for k in self.only)

    def _removals(self) -> None:
        d, plan = self.data, self.plan
        for mid, memo in d.memos.items():
            if memo["is_live"]:
                continue
            w = self.removal_action((CREDIT_MEMO, mid), st.DELETE, memo["removed_at"])
            if w is not None:
                booked = self.hist[w.key].last_put if w.key in self.hist else None
                w.invoice_number, w.currency = memo["invoice_number"], memo["currency"]
                w.amount = Decimal(booked.amount) if booked is not None and booked.amount else memo["total"]
                plan.removals[CREDIT_MEMO].append(w)
        for pid, pay in d.payments.items():
            inv = d.invoices.get(pay["invoice_id"])
            if pay["is_live"] and inv is not None and not inv["is_voided"]:
                continue
            when = (inv or {}).get("voided_at") or pay["paid_at"]
            w = self.removal_action((PAYMENT, pid), st.VOID, when)
            if w is not None:
                w.invoice_number, w.amount, w.currency = pay["invoice_number"], pay["amount"], pay["currency"]
                plan.removals[PAYMENT].append(w)
        for bid, row in d.balances.items():
            if not row["is_deleted"] and row["amount_to_book"] != 0:
                continue
            w = self.removal_action((BALANCE_TRANSACTION, bid), st.DELETE, row["transaction_date"])
            if w is not None:
                w.amount, w.currency = row["amount_to_book"], row["currency"]
                plan.removals[BALANCE_TRANSACTION].append(w)
        for iid, inv in d.invoices.items():
            if not inv["is_voided"]:
                continue
            w = self.removal_action((INVOICE, iid), st.VOID, inv["voided_at"])
            if w is not None:
                w.invoice_number, w.amount, w.currency = inv["invoice_number"], inv["total"], inv["currency"]
                plan.removals[INVOICE].append(w)

    def _changed(self) -> None:
        """Synced objects whose Orb data changed since they were sent (payload hash differs): listed in the record
        view and the nightly report; `orbfin sync resync` sends them again."""
        d = self.data
        for key, h in self.hist.items():
            if h.latest.status != st.SYNCED or h.latest.action not in st.PUTS or not h.last_put:
                continue
            otype, oid = key
            try:
                if otype == INVOICE:
                    inv = d.invoices[oid]
                    if inv["is_voided"]:
                        continue
                    payload = pl.invoice_payload(d, inv, self.live_id((CUSTOMER, inv["customer_id"])) or "",
                                                 skip_zero_lines=self.settings.skip_zero_line_items)
                elif otype == CREDIT_MEMO:
                    memo = d.memos[oid]
                    if not memo["is_live"]:
                        continue
                    payload = pl.memo_payload(d, memo, self.live_id((INVOICE, memo["invoice_id"])) or "",
                                              self.live_id((CUSTOMER, memo["customer_id"])))
                elif otype == PAYMENT:
                    pay = d.payments[oid]
                    if not pay["is_live"]:
                        continue
                    payload = pl.payment_payload(d, pay, self.live_id((INVOICE, pay["invoice_id"])) or "",
                                                 self.live_id((CUSTOMER, pay["customer_id"])))
                elif otype == BALANCE_TRANSACTION:
                    row = d.balances[oid]
                    if row["is_deleted"] or row["amount_to_book"] == 0:
                        continue
                    payload = pl.balance_payload(d, row, self.live_id((CUSTOMER, row["customer_id"])) or "")
                else:
                    continue
            except KeyError:
                continue
            self.note_changed(key, payload)


def plan(data: SyncData, hist: dict[Key, st.History], settings: Settings, *, run_id: str,
         resume: dict[Key, Work] | None = None, only: set[Key] | None = None,
         journal_frontiers: dict[str, dt.date] | None = None) -> Plan:
    return Planner(data, hist, settings, run_id=run_id, resume=resume, only=only,
                   journal_frontiers=journal_frontiers).build()
