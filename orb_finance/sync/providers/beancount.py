"""The embedded default provider: one append-only Beancount ledger file (SPEC §5).

Owns the ledger: its accounts (a receivable and a customer-balance sub-account per customer and currency;
revenue, credit notes, tax, cash, invoice-adjustment and balance-adjustment accounts per currency), one
transaction per invoice, credit memo, payment and customer-balance movement tagged with its Orb id, a reversing
transaction for every void, delete or resync, and reading the balances back for reconcile. Each entry is
validated against the ledger before it is written (open accounts, currencies, balance), so `bean-check` passes
after every run; each write is one append, fsync'd before the engine records it. The accounting model (what is
debited and credited for each Orb event) is the README's table and DECISIONLOG "Books that tie out".
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..payloads import (CASH, CUSTOMER_BALANCE, RECEIVABLE, BalanceTransactionPayload, CreditMemoPayload,
                        CustomerPayload, InvoicePayload, PaymentPayload, RevenueJournalPayload)
from ..settings import Field
from .base import (ADJUSTMENTS, BALANCE_ADJUSTMENTS, BALANCE_TRANSACTION, CREDIT_MEMO, CREDIT_NOTES, CUSTOMER,
                   INVOICE, PAYMENT, RECOGNIZED, REVENUE, REVENUE_JOURNAL, TAX, BalanceLine, Outcome, Provider,
                   ProviderError, Removal)
from .base import DEFERRED_REVENUE as DEFERRED_REVENUE_KIND
from .base import UNBILLED_REVENUE as UNBILLED_REVENUE_KIND
from .base import CASH as CASH_KIND
from .base import CUSTOMER_BALANCE as CUSTOMER_BALANCE_KIND
from .base import RECEIVABLE as RECEIVABLE_KIND

DEFAULT_LEDGER = "warehouse/ledger/orb.beancount"
DEFAULT_ACCOUNTS = {
    "receivable": "Assets:Receivable:{currency}:{customer}",
    "customer_balance": "Liabilities:CustomerBalance:{currency}:{customer}",
    "cash": "Assets:Cash:{currency}",
    "revenue": "Income:Revenue:{currency}",
    "credit_notes": "Income:CreditNotes:{currency}",
    "adjustments": "Income:InvoiceAdjustments:{currency}",
    "tax": "Liabilities:Tax:{currency}",
    "balance_adjustments": "Expenses:CustomerBalanceAdjustments:{currency}",
    # revenue recognition from the warehouse (SPEC §5.2)
    "deferred_revenue": "Liabilities:DeferredRevenue:{currency}",
    "unbilled_revenue": "Assets:UnbilledRevenue:{currency}",
    "usage": "Income:Revenue:Usage:{currency}",
    "credit_consumption": "Income:Revenue:CreditConsumption:{currency}",
    "credit_breakage": "Income:Revenue:CreditBreakage:{currency}",
}
# a journal line's kind -> the account template it posts to
JOURNAL_ACCOUNTS = {"usage": "usage", "credit_consumption": "credit_consumption", "credit_breakage": "credit_breakage",
                    "credit_notes": "credit_notes", "deferred_revenue": "deferred_revenue",
                    "unbilled_revenue": "unbilled_revenue"}
# The balance kind each account reads back as (reconcile), and whether it is credit-positive.
ACCOUNT_KINDS = {"receivable": (RECEIVABLE_KIND, False), "customer_balance": (CUSTOMER_BALANCE_KIND, True),
                 "cash": (CASH_KIND, False), "revenue": (REVENUE, True), "credit_notes": (CREDIT_NOTES, False),
                 "adjustments": (ADJUSTMENTS, True), "tax": (TAX, True),
                 "balance_adjustments": (BALANCE_ADJUSTMENTS, False),
                 "deferred_revenue": (DEFERRED_REVENUE_KIND, True), "unbilled_revenue": (UNBILLED_REVENUE_KIND, False),
                 "usage": (RECOGNIZED, True), "credit_consumption": (RECOGNIZED, True),
                 "credit_breakage": (RECOGNIZED, True)}
TAGS = {INVOICE: "orb-invoice", CREDIT_MEMO: "orb-credit-memo", PAYMENT: "orb-payment",
        BALANCE_TRANSACTION: "orb-balance", REVENUE_JOURNAL: "orb-revenue-recognition"}
CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9'._-]{0,22}[A-Z0-9]$")
COMPONENT_RE = re.compile(r"^[A-Z0-9][A-Za-z0-9-]*$")
HEADER = ("; Orb accounting sync ledger, written by orb-finance (`orbfin sync run`). Append-only: every\n"
          "; invoice, credit memo and payment carries its Orb id (orb_id); voids and resyncs are reversing\n"
          "; entries. Include this file from your main ledger rather than editing it.\n\n"
          'option "title" "Orb accounting sync"\n\n')
# How Fava shows the ledger (written once, with the first account opened): income, liabilities and equity as
# positive numbers, amounts with thousands separators. Each currency's decimals come from its commodity
# directive (`precision`), written with the first account in that currency.
FAVA_OPTIONS = {"invert-income-liabilities-equity": "true", "locale": "en"}
PLACEHOLDER = "@"              # an account's customer part while working out first-use dates: @<orb customer id>
COMMODITY_KEY, LEDGER_KEY = "commodity:", "ledger:"    # first-use dates of a currency, and of the whole ledger


@dataclass
class _Txn:
    txn_id: str
    object_type: str
    orb_id: str
    date: dt.date
    postings: list[tuple[str, Decimal, str]]
    payee: str
    narration: str
    link: str | None


@dataclass
class _Index:
    opens: dict[str, tuple[dt.date, tuple[str, ...]]] = field(default_factory=dict)
    closes: dict[str, dt.date] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)        # orb customer id -> account leaf
    leaves: dict[str, str] = field(default_factory=dict)           # leaf -> orb customer id
    txns: dict[str, _Txn] = field(default_factory=dict)
    live: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, orb id) -> txn id
    generation: dict[tuple[str, str], int] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)
    operating: set[str] = field(default_factory=set)               # operating_currency options written
    commodities: set[str] = field(default_factory=set)             # commodity directives written
    fava_options: set[str] = field(default_factory=set)            # custom "fava-option" names written


@dataclass
class _Pending:
    """What an entry's text declares before it is in the ledger (committed once it is: a refused entry opens
    nothing): accounts opened, operating currencies, commodities and Fava options."""
    opens: dict[str, tuple[dt.date, tuple[str, ...]]] = field(default_factory=dict)
    operating: set[str] = field(default_factory=set)
    commodities: set[str] = field(default_factory=set)
    fava_options: set[str] = field(default_factory=set)


class BeancountProvider(Provider):
    name: ClassVar[str] = "beancount"
    SETTINGS: ClassVar[dict[str, Field]] = {
        "ledger_path": Field("path", DEFAULT_LEDGER, "the ledger file the sync appends to"),
        "open_date": Field("date", None, "the date every account is opened on (default: the first date the books "
                                         "use it)"),
        "accounts": Field("section", fields={k: Field("str", v) for k, v in DEFAULT_ACCOUNTS.items()}),
        "check_after_run": Field("bool", True, "load the whole ledger (what bean-check does) after a run"),
    }
    batch_size = 500

    def __init__(self, settings=None, *, context=None):
        super().__init__(settings, context=context)
        self.path = Path(self.settings["ledger_path"])
        self.open_date = self.settings["open_date"]
        self.accounts = dict(self.settings["accounts"])
        self.check_after_run = self.settings["check_after_run"]
        self.index = _Index()
        self._data: Any = None            # the pass's sync data (prepare): first-use dates, minor units
        self._first_use: dict[str, dt.date] | None = None
        self._dry_run: dict[str, dt.date] | None = None
        self.minor_units: dict[str, int] = {}
        self._fd: int | None = None
        self._dirty = False
        self._changed = False        # this run appended to (or repaired) the ledger
        self._open_ledger()

    # --- the ledger file -----------------------------------------------------------------------------

    def _open_ledger(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.write_text(HEADER, encoding="utf-8")
        else:
            self._repair_torn_tail()
            self._load_index()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _repair_torn_tail(self) -> None:
        """Every entry ends with a blank line; a file that does not was cut in the middle of a write (a crash
        while appending). The partial entry is moved to `<ledger>.torn-<time>` so the ledger stays valid."""
        with open(self.path, "rb") as fh:
            data = fh.read()
        if data.endswith(b"\n\n"):
            return
        cut = data.rfind(b"\n\n")
        keep = data[:cut + 2] if cut >= 0 else b""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.torn-{stamp}")
        aside.write_bytes(data[len(keep):])
        self._changed = True
        with open(self.path, "r+b") as fh:
            fh.truncate(len(keep))
            fh.flush()
            os.fsync(fh.fileno())

    def _load_index(self) -> None:
        from beancount.core import data as bd
        from beancount.parser import parser

        entries, errors, options = parser.parse_file(str(self.path))
        if errors:
            raise ProviderError(f"{self.path} does not parse: {errors[0].message} (line {errors[0].source.get('lineno')})")
        idx = self.index
        reversals = []
        for e in entries:
            if isinstance(e, bd.Open):
                idx.opens[e.account] = (e.date, tuple(e.currencies or ()))
                cid = e.meta.get("orb_customer_id")
                if cid:
                    leaf = e.account.rsplit(":", 1)[-1]
                    idx.customers.setdefault(cid, leaf)
                    idx.leaves.setdefault(leaf, cid)
            elif isinstance(e, bd.Close):
                idx.closes[e.account] = e.date
            elif isinstance(e, bd.Commodity):
                idx.commodities.add(e.currency)
            elif isinstance(e, bd.Custom) and e.type == "fava-option" and e.values:
                idx.fava_options.add(str(e.values[0].value))
            elif isinstance(e, bd.Custom) and e.type == "orb-customer" and len(e.values) == 2:
                cid, leaf = (v.value for v in e.values)
                idx.customers.setdefault(cid, leaf)
                idx.leaves.setdefault(leaf, cid)
            elif isinstance(e, bd.Transaction):
                txn_id = e.meta.get("orb_txn")
                if txn_id:
                    otype, oid = e.meta.get("orb_object"), e.meta.get("orb_id")
                    postings = [(p.account, p.units.number, p.units.currency) for p in e.postings]
                    idx.txns[txn_id] = _Txn(txn_id, otype, oid, e.date, postings, e.payee or "", e.narration or "",
                                            next(iter(e.links), None) if e.links else None)
                    key = (otype, oid)
                    if _generation(txn_id) >= idx.generation.get(key, 0):
                        idx.live[key] = txn_id
                        idx.generation[key] = _generation(txn_id)
                if e.meta.get("reverses"):
                    reversals.append(e.meta["reverses"])
        idx.operating.update(options.get("operating_currency") or [])
        for txn_id in reversals:
            idx.reversed.add(txn_id)
            t = idx.txns.get(txn_id)
            if t and idx.live.get((t.object_type, t.orb_id)) == txn_id:
                del idx.live[(t.object_type, t.orb_id)]

    def _append(self, text: str) -> None:
        data = text.encode("utf-8")
        assert self._fd is not None
        start = os.lseek(self._fd, 0, os.SEEK_END)
        written = 0
        try:
            while written < len(data):         # one write() in practice; a short write (disk full) loops
                written += os.write(self._fd, data[written:])
            self._changed = True
        except OSError as exc:
            os.ftruncate(self._fd, start)      # never leave half an entry behind
            raise ProviderError(f"cannot write {self.path}: {exc}") from None
        self._dirty = True

    def _sync(self) -> None:
        if self._dirty and self._fd is not None:
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            self._sync()
            os.close(self._fd)
            self._fd = None
            # The whole-ledger check runs whenever the ledger differs from the last one that passed it (this run
            # wrote to it, or someone or something else did since), not only after a run that wrote.
            if self.check_after_run and (self._changed or self._stamp() != self._meta("checked")):
                self.check()
                self._meta("checked", self._stamp())

    def _stamp(self) -> str:
        st = self.path.stat()
        return f"{st.st_size} {st.st_mtime_ns}"

    def _meta(self, what: str, value: str | None = None) -> str | None:
        """A fact about this ledger kept in the sync's state store (nothing is written beside the ledger)."""
        if self.context.state_path is None:
            return None
        from ..state import StateStore

        with StateStore(self.context.state_path) as store:
            key = f"beancount.{what}:{self.path}"
            if value is not None:
                store.set_meta(key, value)
                return value
            return store.get_meta(key)

    def check(self) -> None:
        """What `bean-check` does: load and validate the whole ledger; raises ProviderError on any error."""
        from beancount import loader

        # No pickle cache: the ledger changes on every run that gets here, so a cache would be stale at
        # once, and writing it (an 11 MB hidden file beside a 10 MB ledger) took 40% of the check's time.
        # initialize(False) also deletes a stale cache a cached loader (bean-check, Fava) left behind.
        loader.initialize(use_cache=False)
        _, errors, _ = loader.load_file(str(self.path))
        if errors:
            first = errors[0]
            raise ProviderError(f"bean-check fails on {self.path}: {first.message} "
                                f"(line {first.source.get('lineno') if first.source else '?'}; {len(errors)} error(s))")

    # --- Provider ----------------------------------------------------------------------------------

    def prepare(self, data: Any) -> None:
        self._data, self._first_use = data, None
        self.minor_units = dict(getattr(data, "minor_units", None) or {})

    def _first_use_dates(self) -> dict[str, dt.date]:
        """The first date the books use each account, from every object of the sync data (whether or not this pass
        sends it): the entries are built without writing anything, with @<orb customer id> for the customer part of
        an account. Revenue journals use their accounts from the first month end with revenue. Worked out the first
        time an account is opened in a pass (a pass that opens none does not pay for it)."""
        if self._first_use is not None:
            return self._first_use
        from .. import payloads as pl
        from ..recognition import month_end

        first: dict[str, dt.date] = {}
        data = self._data
        self._dry_run = first
        try:
            if data is not None:
                def cid(customer_id: Any) -> str:
                    return PLACEHOLDER + str(customer_id)
                builds = (
                    [lambda r=r: self._invoice(pl.invoice_payload(data, r, cid(r["customer_id"])))
                     for r in data.invoices.values()]
                    + [lambda r=r: self._memo(pl.memo_payload(data, r, "", cid(r["customer_id"])))
                       for r in data.memos.values()]
                    + [lambda r=r: self._payment(pl.payment_payload(data, r, "", cid(r["customer_id"])))
                       for r in data.payments.values()]
                    + [lambda r=r: self._balance(pl.balance_payload(data, r, cid(r["customer_id"])))
                       for r in data.balances.values()])
                for build in builds:
                    try:
                        build()
                    except Exception:        # an object the sync will refuse anyway: it opens nothing
                        continue
                journaled = set(data.revenue_monthly) | set(data.rollforward) if self.deferring else set()
                for month, currency in sorted(journaled):
                    for kind in JOURNAL_ACCOUNTS.values():
                        try:
                            account = self._account(kind, currency)
                        except ProviderError:
                            continue
                        on = month_end(month)
                        first[account] = min(first.get(account, on), on)
        finally:
            self._dry_run = None
        self._first_use = first
        return first

    def _open_date_of(self, account: str, on: dt.date | None, customer_orb_id: str | None = None) -> dt.date:
        """The date `account` is opened on: the `open_date` setting when given, else the first date the books use
        it (never after `on`, the entry that needs it now)."""
        if self.open_date is not None:
            return self.open_date
        first = self._first_use_dates()
        known = first.get(account)
        for template in self.accounts.values():
            if "{customer}" not in template:
                continue
            m = _template_regex(template).match(account)
            if m:
                cid = customer_orb_id or self.index.leaves.get(m.group("customer"))
                if cid:
                    known = first.get(template.format(currency=m.group("currency") if "{currency}" in template
                                                      else "", customer=PLACEHOLDER + cid))
                break
        dates = [d for d in (known, on) if d is not None]
        return min(dates) if dates else dt.datetime.now(dt.timezone.utc).date()

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        if object_type == CUSTOMER:
            return {i: self.index.customers[i] for i in orb_ids if i in self.index.customers}
        return {i: self.index.live[(object_type, i)] for i in orb_ids if (object_type, i) in self.index.live}

    def check_customer(self, provider_customer_id: str) -> str:
        leaf = provider_customer_id.strip()
        if ":" in leaf:                      # a whole receivable account: keep its last component
            leaf = leaf.rsplit(":", 1)[-1]
        if not COMPONENT_RE.match(leaf):
            raise ProviderError(f"{provider_customer_id!r} is not a Beancount account component "
                                "(a capital letter or digit, then letters, digits or dashes)")
        return leaf

    def create(self, object_type: str, payloads: Sequence[Any]) -> list[Outcome]:
        build = {CUSTOMER: self._customer, INVOICE: self._invoice, CREDIT_MEMO: self._memo, PAYMENT: self._payment,
                 BALANCE_TRANSACTION: self._balance, REVENUE_JOURNAL: self._journal}[object_type]
        outcomes = self.each(payloads, lambda p: p.orb_id, build)
        self._sync()
        return outcomes

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        outcomes = self.each(removals, lambda r: r.orb_id, lambda r: self._reverse(object_type, r) or r.provider_id)
        self._sync()
        return outcomes

    def balances(self, as_of: dt.date) -> list[BalanceLine]:
        """Every posting dated on or before `as_of`, summed per account, read back as reconcile's kinds (natural
        sign); receivables also per Orb invoice (the transaction's ^orb-<invoice> link)."""
        from beancount import loader
        from beancount.core import data as bd

        loader.initialize(use_cache=False)
        entries, errors, _ = loader.load_file(str(self.path))
        if errors:
            raise ProviderError(f"{self.path} does not load: {errors[0].message}")
        matchers = [(kind, _template_regex(template)) for kind, template in self.accounts.items()
                    if kind in ACCOUNT_KINDS]
        sums: dict[tuple, Decimal] = {}
        for e in entries:
            if not isinstance(e, bd.Transaction) or e.date > as_of:
                continue
            link = next((l[4:] for l in e.links if l.startswith("orb-")), None) if e.links else None
            journal = e.meta.get("orb_object") == REVENUE_JOURNAL
            for p in e.postings:
                for kind, regex in matchers:
                    m = regex.match(p.account)
                    if not m:
                        continue
                    leaf = m.groupdict().get("customer")
                    customer = self.index.leaves.get(leaf, leaf) if leaf else None
                    doc = link if kind == "receivable" else None
                    month = detail = None
                    if journal and (ACCOUNT_KINDS[kind][0] == RECOGNIZED or kind == "credit_notes"):
                        month = dt.date.fromisoformat(str((p.meta or {}).get("orb_month", e.date.isoformat()[:7])) + "-01")
                        detail = kind
                    key = (kind, p.units.currency, customer, doc, month, detail)
                    sums[key] = sums.get(key, Decimal(0)) + p.units.number
                    break
        out = []
        for (kind, currency, customer, doc, month, detail), amount in sorted(
                sums.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            balance_kind, credit_positive = ACCOUNT_KINDS[kind]
            if detail is not None:      # recognized revenue of a month, by kind (credit notes are contra-revenue)
                out.append(BalanceLine(RECOGNIZED, currency, -amount, month=month, detail=detail))
                continue
            out.append(BalanceLine(balance_kind, currency, -amount if credit_positive else amount, customer,
                                   orb_object=doc))
        return out

    # --- objects -----------------------------------------------------------------------------------

    def _customer(self, c: CustomerPayload) -> str:
        idx = self.index
        if c.orb_id in idx.customers:
            return idx.customers[c.orb_id]
        def taken(leaf: str) -> bool:   # by another Orb customer, or by an account someone opened by hand
            if idx.leaves.get(leaf, c.orb_id) != c.orb_id:
                return True
            return bool(c.currency) and self._account("receivable", c.currency, leaf) in idx.opens

        leaf = _component(c.name) or _component(c.orb_id) or "Customer"
        if taken(leaf):
            leaf = f"{leaf}-{_component(c.orb_id) or len(idx.leaves)}"
        n, base = 2, leaf
        while taken(leaf):
            leaf, n = f"{base}-{n}", n + 1
        pending = _Pending()
        if c.currency:
            account = self._account("receivable", c.currency, leaf)
            text = self._open_text(account, c.currency, {"orb_customer_id": c.orb_id, "customer_name": c.name},
                                   pending, customer_orb_id=c.orb_id)
        else:   # no invoicing currency: remember the customer with a custom directive
            first = [d for a, d in self._first_use_dates().items() if a.endswith(PLACEHOLDER + c.orb_id)]
            on = self.open_date or (min(first) if first else dt.datetime.now(dt.timezone.utc).date())
            text = f'{on} custom "orb-customer" {_q(c.orb_id)} {_q(leaf)}\n\n'
        self._append(text)
        self._commit_opens(pending)
        idx.customers[c.orb_id], idx.leaves[leaf] = leaf, c.orb_id
        return leaf

    def _invoice(self, inv: InvoicePayload) -> str:
        self._knows(inv.customer_provider_id, inv.customer_orb_id)
        cur = inv.currency
        postings: list[tuple[str, Decimal, str, dict]] = [
            (self._account("receivable", cur, inv.customer_provider_id), inv.amount_due, cur, {})]
        if inv.customer_balance_applied:
            postings.append((self._account("customer_balance", cur, inv.customer_provider_id),
                             inv.customer_balance_applied, cur, {}))
        revenue = "deferred_revenue" if self.deferring else "revenue"
        for line in inv.lines:
            postings.append((self._account(revenue, cur), -line.amount, cur, {"orb_line_id": line.orb_id}))
        tax = inv.tax
        if tax:
            postings.append((self._account("tax", cur), -tax, cur, {}))
        if inv.adjustment_amount:
            postings.append((self._account("adjustments", cur), -inv.adjustment_amount, cur, {}))
        meta = {"invoice_number": inv.number, "customer_orb_id": inv.customer_orb_id}
        if inv.due_date:
            meta["due_date"] = str(inv.due_date)
        return self._write(INVOICE, inv.orb_id, inv.invoice_date, inv.customer_name,
                           f"Invoice {inv.number or inv.orb_id}", inv.orb_id, meta, postings)

    def _memo(self, m: CreditMemoPayload) -> str:
        self._knows(m.customer_provider_id, m.customer_orb_id)
        cur = m.currency
        postings: list[tuple[str, Decimal, str, dict]] = []
        for line in m.lines:
            meta = {"orb_line_id": line.orb_id}
            if line.origin_line_id:
                meta["credits_line_id"] = line.origin_line_id
            postings.append((self._account("deferred_revenue" if self.deferring else "credit_notes", cur), line.amount,
                             cur, meta))
        if m.tax_amount:
            postings.append((self._account("tax", cur), m.tax_amount, cur, {}))
        target = {RECEIVABLE: "receivable", CUSTOMER_BALANCE: "customer_balance", CASH: "cash"}[m.credit_target]
        postings.append((self._account(target, cur, m.customer_provider_id), -m.total, cur, {}))
        meta = {"credit_note_number": m.number, "invoice_orb_id": m.invoice_orb_id, "invoice_number": m.invoice_number,
                "credit_note_type": m.credit_note_type, "reason": m.reason, "credited_to": m.credit_target}
        return self._write(CREDIT_MEMO, m.orb_id, m.memo_date, m.customer_name,
                           f"Credit note {m.number or m.orb_id} on invoice {m.invoice_number or m.invoice_orb_id}",
                           m.invoice_orb_id, meta, postings)

    def _payment(self, p: PaymentPayload) -> str:
        self._knows(p.customer_provider_id, p.customer_orb_id)
        cur = p.currency
        source = ("customer_balance", p.customer_provider_id) if p.settled_from == CUSTOMER_BALANCE else ("cash", None)
        postings = [(self._account(source[0], cur, source[1]), p.amount, cur, {}),
                    (self._account("receivable", cur, p.customer_provider_id), -p.amount, cur, {})]
        meta = {"invoice_orb_id": p.invoice_orb_id, "invoice_number": p.invoice_number, "payment_source": p.source,
                "payment_provider": p.payment_provider, "payment_provider_id": p.payment_provider_id,
                "settled_from": p.settled_from if p.settled_from != CASH else None}
        return self._write(PAYMENT, p.orb_id, p.payment_date, p.customer_name,
                           f"Payment of invoice {p.invoice_number or p.invoice_orb_id}"
                           + (" from the customer balance" if p.settled_from == CUSTOMER_BALANCE else ""),
                           p.invoice_orb_id, meta, postings)

    def _knows(self, leaf: str | None, orb_id: str | None) -> None:
        """A customer's account component and Orb id, from the payload that books it: a customer mapped to accounts
        opened by hand (orbfin sync map-customer) is known by its Orb id too (its new accounts' first-use dates and
        their orb_customer_id metadata)."""
        if self._dry_run is None and leaf and orb_id and leaf not in self.index.leaves:
            self.index.leaves[leaf] = orb_id

    @property
    def deferring(self) -> bool:
        """SPEC §5.2 revenue_recognition: warehouse: invoice and credit-memo lines go to deferred revenue; the monthly
        journals move recognized revenue out of it."""
        return self.context.revenue_recognition == "warehouse"

    def _journal(self, j: RevenueJournalPayload) -> str:
        """A month's recognized revenue: one transaction on the month's last day, each posting tagged with the month
        its revenue belongs to (`orb_month`; a correction names an earlier month)."""
        cur = j.currency
        postings = [(self._account(JOURNAL_ACCOUNTS[l.kind], cur), l.amount, cur, {"orb_month": f"{l.month:%Y-%m}"})
                    for l in j.lines]
        meta = {"orb_month": f"{j.month:%Y-%m}",
                "corrects": ", ".join(f"{m:%Y-%m}" for m in j.corrects) if j.corrects else None}
        return self._write(REVENUE_JOURNAL, j.orb_id, j.entry_date, "Orb warehouse",
                           f"Revenue recognized in {j.month:%B %Y} ({cur})"
                           + (f", with corrections of {meta['corrects']}" if j.corrects else ""), None, meta, postings)

    def _balance(self, b: BalanceTransactionPayload) -> str:
        """Orb's customer balance moved by `amount` (+ owed to the customer): the liability is credited by it, the
        contra account (cash, balance adjustments, or the receivable) debited."""
        self._knows(b.customer_provider_id, b.customer_orb_id)
        cur = b.currency
        contra = {CASH: ("cash", None), "adjustments": ("balance_adjustments", None),
                  RECEIVABLE: ("receivable", b.customer_provider_id)}[b.contra]
        postings = [(self._account(contra[0], cur, contra[1]), b.amount, cur, {}),
                    (self._account("customer_balance", cur, b.customer_provider_id), -b.amount, cur, {})]
        meta = {"balance_action": b.action, "description": b.description, "invoice_orb_id": b.invoice_orb_id,
                "credit_note_orb_id": b.credit_note_orb_id}
        return self._write(BALANCE_TRANSACTION, b.orb_id, b.transaction_date, b.customer_name,
                           f"Customer balance: {b.action.replace('_', ' ')}"
                           + (f" ({b.description})" if b.description else ""),
                           b.invoice_orb_id, meta, postings)

    def _reverse(self, object_type: str, r: Removal) -> None:
        idx = self.index
        txn = idx.txns.get(r.provider_id) if r.provider_id else None
        if txn is None or r.provider_id in idx.reversed:
            return                                   # nothing live to take out: already done
        on = txn.date if r.why == "resync" else max(r.on_date, txn.date)
        what = {"void": "Void", "delete": "Deletion", "resync": "Resync reversal"}.get(r.why, "Reversal")
        postings = [(acc, -amt, cur, {}) for acc, amt, cur in txn.postings]
        self._write(object_type, txn.orb_id, on, txn.payee, f"{what} of: {txn.narration}", None,
                    {"reverses": txn.txn_id, "orb_action": r.why}, postings, link=txn.link, tag="orb-" + r.why,
                    reversal_of=txn.txn_id)

    # --- writing entries ---------------------------------------------------------------------------

    def _account(self, kind: str, currency: str, customer: str | None = None) -> str:
        if not CURRENCY_RE.match(currency or ""):
            raise ProviderError(f"currency {currency!r} is not a valid Beancount commodity")
        template = self.accounts[kind]
        if "{customer}" in template and not customer:
            raise ProviderError(f"no {kind.replace('_', ' ')} account: the customer is not mapped")
        return template.format(currency=currency, customer=customer or "")

    def _open_text(self, account: str, currency: str | None, meta: dict | None = None,
                   pending: _Pending | None = None, *, on: dt.date | None = None,
                   customer_orb_id: str | None = None) -> str:
        """The open directive for `account` if it is not open yet (dated _open_date_of: its first use, or the
        open_date setting), else ''. Declared with it when not yet in the ledger: the currency as an operating
        currency (Fava reports in those) and as a commodity with its decimals (`precision`, Fava's display), and
        Fava's display options. Everything is noted in `pending`; `_commit_opens` records it once the text is in
        the ledger, so a refused entry opens nothing."""
        pending = _Pending() if pending is None else pending
        if account in self.index.opens or account in pending.opens:
            return ""
        from beancount.core import account as bc_account
        if not bc_account.is_valid(account):
            raise ProviderError(f"{account!r} is not a valid Beancount account name")
        opened = self._open_date_of(account, on, customer_orb_id)
        pending.opens[account] = (opened, (currency,) if currency else ())

        def first(key: str) -> dt.date:
            known = None if self.open_date is not None else self._first_use_dates().get(key)
            return min(known, opened) if known else opened
        text = ""
        for name, value in FAVA_OPTIONS.items():
            if name not in self.index.fava_options and name not in pending.fava_options:
                pending.fava_options.add(name)
                text += f'{first(LEDGER_KEY)} custom "fava-option" {_q(name)} {_q(value)}\n'
        text += "\n" if text else ""
        if currency and currency not in self.index.operating and currency not in pending.operating:
            pending.operating.add(currency)        # Fava reports in the operating currencies
            text += f'option "operating_currency" "{currency}"\n\n'
        if (currency and currency in self.minor_units and currency not in self.index.commodities
                and currency not in pending.commodities):
            pending.commodities.add(currency)
            text += f"{first(COMMODITY_KEY + currency)} commodity {currency}\n  precision: {self.minor_units[currency]}\n\n"
        text += f"{opened} open {account}" + (f" {currency}" if currency else "") + "\n"
        for k, v in (meta or {}).items():
            text += f"  {k}: {_q(v)}\n"
        return text + "\n"

    def _commit_opens(self, pending: _Pending) -> None:
        self.index.operating.update(pending.operating)
        self.index.commodities.update(pending.commodities)
        self.index.fava_options.update(pending.fava_options)
        self.index.opens.update(pending.opens)

    def _check_posting(self, account: str, currency: str, on: dt.date, pending: _Pending | None = None) -> None:
        opened = self.index.opens.get(account) or (pending.opens.get(account) if pending else None)
        if opened is not None:
            if opened[0] > on:
                raise ProviderError(f"account {account} opens on {opened[0]}, after the entry's date {on}")
            if opened[1] and currency not in opened[1]:
                raise ProviderError(f"account {account} only holds {', '.join(opened[1])}, not {currency}")
        closed = self.index.closes.get(account)
        if closed is not None and on >= closed:
            raise ProviderError(f"account {account} is closed on {closed}; cannot book an entry dated {on}")

    def _write(self, object_type: str, orb_id: str, on: dt.date, payee: str, narration: str, link_id: str | None,
               meta: dict, postings: list[tuple[str, Decimal, str, dict]], *, link: str | None = None,
               tag: str | None = None, reversal_of: str | None = None) -> str:
        idx = self.index
        if self._dry_run is not None:          # working out first-use dates: note the accounts, write nothing
            for account, _, currency, _ in postings:
                for key in (account, COMMODITY_KEY + currency, LEDGER_KEY):
                    self._dry_run[key] = min(self._dry_run.get(key, on), on)
            return ""
        if sum((p[1] for p in postings), Decimal(0)) != 0:
            raise ProviderError(f"{object_type} {orb_id} does not balance: "
                                f"{sum((p[1] for p in postings), Decimal(0))} {postings[0][2]}")
        opens, pending = "", _Pending()
        for account, _, currency, _ in postings:
            if account not in idx.opens:
                opens += self._open_text(account, currency, _customer_meta(account, idx), pending, on=on)
            self._check_posting(account, currency, on, pending)
        key = (object_type, orb_id)
        if reversal_of:
            txn_id = reversal_of
            header_meta = {"orb_object": object_type, "orb_id": orb_id, **meta}
        else:
            n = idx.generation.get(key, 0) + 1
            txn_id = f"{object_type}/{orb_id}/{n}"
            header_meta = {"orb_object": object_type, "orb_id": orb_id, "orb_txn": txn_id, **meta}
        link = link or (f"orb-{_link(link_id)}" if link_id else None)
        tags = " #" + (tag or TAGS[object_type])
        text = f'{on} * {_q(payee)} {_q(narration)}{tags}' + (f" ^{link}" if link else "") + "\n"
        for k, v in header_meta.items():
            if v is not None and v != "":
                text += f"  {k}: {_q(v)}\n"
        for account, amount, currency, pmeta in postings:
            text += f"  {account:<48} {_amt(amount, self.minor_units.get(currency)):>16} {currency}\n"
            for k, v in pmeta.items():
                if v is not None:
                    text += f"    {k}: {_q(v)}\n"
        self._append(opens + text + "\n")
        self._commit_opens(pending)
        if reversal_of:
            idx.reversed.add(reversal_of)
            if idx.live.get(key) == reversal_of:
                del idx.live[key]
        else:
            idx.generation[key] = n
            idx.txns[txn_id] = _Txn(txn_id, object_type, orb_id, on, [(a, m, c) for a, m, c, _ in postings],
                                    payee, narration, link)
            idx.live[key] = txn_id
        return txn_id


def _customer_meta(account: str, idx: _Index) -> dict:
    leaf = account.rsplit(":", 1)[-1]
    cid = idx.leaves.get(leaf)
    return {"orb_customer_id": cid} if cid and account.startswith(("Assets:Receivable", "Liabilities:CustomerBalance")) else {}


def _template_regex(template: str) -> "re.Pattern[str]":
    """An account template (Assets:Receivable:{currency}:{customer}) as a regex naming its parts."""
    parts = re.split(r"(\{currency\}|\{customer\})", template)
    pattern = "".join("(?P<currency>[^:]+)" if p == "{currency}" else "(?P<customer>[^:]+)" if p == "{customer}"
                      else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


def _generation(txn_id: str) -> int:
    try:
        return int(txn_id.rsplit("/", 1)[-1])
    except ValueError:
        return 0


def _component(text: str | None) -> str:
    """A Beancount account component from free text: ASCII letters, digits and dashes, capitalised."""
    if not text:
        return ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    comp = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")
    if not comp:
        return ""
    comp = comp[0].upper() + comp[1:]
    return comp[:60].rstrip("-")


def _link(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./-]+", "-", text)


_NEEDS_ESCAPE = re.compile(r'[\\"\r\n\t]')


def _q(value: Any) -> str:
    text = str(value)
    if _NEEDS_ESCAPE.search(text):
        text = text.replace("\\", "\\\\").replace('"', '\\"')
        text = re.sub(r"[\r\n\t]+", " ", text)
    return f'"{text}"'


def _amt(amount: Decimal, places: int | None = None) -> str:
    """An amount with its currency's decimals (JPY 471900, USD 12.50, KWD 1.250), and any further digit it has;
    a currency whose minor unit is not known gets at least 2."""
    if amount == 0:
        amount = Decimal(0)
    q = amount.normalize()
    wanted = 2 if places is None else places
    if q.as_tuple().exponent > -wanted:
        q = q.quantize(Decimal(1).scaleb(-wanted))
    return format(q, "f")


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
