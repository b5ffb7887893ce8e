"""The provider contract of the accounting sync: what every provider implements, and the shared loops.

Owns the interface (constructor from checked settings, secrets, batch size, find / create / remove / settle /
check_customer / balances / close), the outcome of a write (synced, failed, or pending: accepted but not final),
the error classes (a refusal is final for one record; an unreachable provider stops the run; a write whose
answer was lost stays pending), the balances a provider reads back for `orbfin sync reconcile`, and the
per-record failure loop and batch-then-isolate that every provider uses instead of writing its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

# Object types, in the order a run sends them (parents before dependents).
CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT = "customer", "invoice", "credit_memo", "payment"
BALANCE_TRANSACTION, REVENUE_JOURNAL = "balance_transaction", "revenue_journal"
OBJECT_TYPES = (CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION, REVENUE_JOURNAL)


class ProviderError(Exception):
    """The provider refused one record (validation, a closed period, a missing rate...): the record fails
    with this message and is not retried until someone runs `orbfin sync retry`."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or stayed busy after backing off (network, rate limit, 5xx), or
    refused the credentials. The run stops; records in flight stay `pending` and are settled by looking them
    up on the next run."""


class AnswerLost(ProviderUnavailable):
    """A write went out and its answer never came (timeout, dropped connection, a gateway error): it may or
    may not have happened, so it is never re-sent blind. The record stays pending; the next run looks it up."""


# --- what a write returns ------------------------------------------------------------------------------

SYNCED, FAILED, PENDING, NOT_FOUND = "synced", "failed", "pending", "not_found"


@dataclass
class Outcome:
    """The result of one write (or of settling one pending write).
    synced: provider_id set. failed: error set. pending: pending_ref set (an asynchronous job the provider
    accepted; a later `settle` decides). not_found (settle only): nothing in the provider, send again."""
    orb_id: str
    provider_id: str | None = None
    error: str | None = None
    pending_ref: str | None = None
    not_found: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.pending_ref is None and not self.not_found

    @property
    def state(self) -> str:
        if self.error is not None:
            return FAILED
        if self.pending_ref is not None:
            return PENDING
        if self.not_found:
            return NOT_FOUND
        return SYNCED


@dataclass(frozen=True)
class Pending:
    """A pending attempt to settle: its object, what it tried (put or removal), and the job reference the
    provider gave, if any (None: the run died before the provider answered)."""
    orb_id: str
    action: str
    provider_id: str | None = None        # for a removal: the object being removed
    pending_ref: str | None = None


@dataclass(frozen=True)
class Removal:
    """Take an object out of the provider: void an invoice, delete a credit memo, void a payment, reverse a
    balance entry or a journal."""
    orb_id: str
    provider_id: str
    on_date: dt.date
    why: str                         # void | delete | resync
    customer_provider_id: str | None = None
    currency: str | None = None


# --- balances read back (orbfin sync reconcile) ---------------------------------------------------------

# Kinds of balance a provider reads back, each with its natural sign: assets and the contra-revenue accounts
# are debit-positive, liabilities and income credit-positive. Per customer: receivable, customer_balance.
RECEIVABLE, CUSTOMER_BALANCE, CASH = "receivable", "customer_balance", "cash"
REVENUE, CREDIT_NOTES, TAX, ADJUSTMENTS = "revenue", "credit_notes", "tax", "adjustments"
BALANCE_ADJUSTMENTS, DEFERRED_REVENUE = "balance_adjustments", "deferred_revenue"
RECOGNIZED = "recognized"           # warehouse revenue recognition: income of one month and kind
UNBILLED_REVENUE = "unbilled_revenue"
BALANCE_KINDS = (RECEIVABLE, CUSTOMER_BALANCE, CASH, REVENUE, CREDIT_NOTES, TAX, ADJUSTMENTS, BALANCE_ADJUSTMENTS,
                 DEFERRED_REVENUE, UNBILLED_REVENUE, RECOGNIZED)


@dataclass(frozen=True)
class BalanceLine:
    kind: str
    currency: str
    amount: Decimal
    customer_orb_id: str | None = None     # receivable and customer_balance: per customer
    month: dt.date | None = None           # recognized: the month (first day)
    detail: str | None = None              # recognized: usage | credit_consumption | credit_breakage | credit_notes
    orb_object: str | None = None          # receivable: the Orb invoice it belongs to, where the books say


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need beyond its own settings section."""
    revenue_recognition: str = "invoice"   # invoice | warehouse (SPEC §5.2)
    state_path: Path | None = None         # the state store (e.g. QuickBooks keeps its rotating refresh token there)


# --- the contract ----------------------------------------------------------------------------------------

T = TypeVar("T")


class Provider:
    """One accounting system. Adding a provider is one module with a subclass of this and one line in
    providers.PROVIDERS. Every method may raise ProviderUnavailable; a refusal of one record is an Outcome."""

    name: ClassVar[str] = ""
    # The keys its settings section accepts (orb_finance.sync.settings.Field); anything else is a typo.
    SETTINGS: ClassVar[Mapping[str, Any]] = {}
    # Object types it can book (a provider without journals leaves out revenue_journal).
    OBJECT_TYPES: ClassVar[tuple[str, ...]] = OBJECT_TYPES
    # The environment variable names read for its secrets, when not named in the settings (documentation).
    batch_size: int = 200

    def __init__(self, settings: Mapping[str, Any] | None = None, *, context: ProviderContext | None = None):
        from ...paths import PROJECT_ROOT
        from ..settings import check_section

        # Checking is idempotent: settings already checked by the settings file pass unchanged, a plain dict
        # (tests, scripts) gets its defaults and paths resolved against the project root.
        self.settings = check_section(self.SETTINGS, dict(settings or {}), self.name, PROJECT_ROOT)
        self.context = context or ProviderContext()

    @classmethod
    def from_settings(cls, settings: Any) -> "Provider":
        """The provider of a checked Settings object."""
        return cls(settings.provider_settings,
                   context=ProviderContext(settings.revenue_recognition, settings.state_path))

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        """Cross-checks of a whole Settings object that need no connection (raise OrbFinanceError)."""

    def prepare(self, data: Any) -> None:
        """Called once per pass, before anything is sent, with the warehouse's sync data (orb_finance.sync.marts.
        SyncData), for a provider that derives something from all of it (Beancount: the date each account is first
        used, and the currencies' minor units). Default: nothing."""

    def secrets(self) -> list[str]:
        """Secret values this provider holds (registered with the redaction rule when obtained)."""
        return []

    # --- lookups and writes ---------------------------------------------------------------------------

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        """The live provider object of each Orb id that has one (voided/deleted ones do not count)."""
        raise NotImplementedError

    def create(self, object_type: str, payloads: Sequence[Any]) -> list[Outcome]:
        """Create the objects (a provider may batch); one Outcome per payload, in order. Durable on return
        (or pending: accepted, not yet final)."""
        raise NotImplementedError

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        """Void/delete/reverse the objects; removing one that is already gone succeeds."""
        raise NotImplementedError

    def settle(self, object_type: str, pendings: Sequence[Pending]) -> list[Outcome]:
        """Decide pending attempts of an earlier run. The default looks each object up by its Orb id: a put found
        is synced; a removal whose object is gone is synced; anything else is not_found (sent again)."""
        found = self.find(object_type, [p.orb_id for p in pendings]) if pendings else {}
        out = []
        for p in pendings:
            pid = found.get(p.orb_id)
            if p.action in ("void", "delete"):
                gone = pid is None or (p.provider_id is not None and pid != p.provider_id)
                out.append(Outcome(p.orb_id, p.provider_id) if gone else Outcome(p.orb_id, not_found=True))
            else:
                out.append(Outcome(p.orb_id, pid) if pid is not None else Outcome(p.orb_id, not_found=True))
        return out

    def check_customer(self, provider_customer_id: str) -> str:
        """Validate a customer to map Orb customers to; returns its canonical id or raises ProviderError."""
        raise NotImplementedError

    def balances(self, as_of: dt.date) -> list[BalanceLine]:
        """The books' balances on `as_of` (entries dated on or before it), for reconcile."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and files; called once at the end of a run."""

    # --- shared loops for implementations -------------------------------------------------------------

    @staticmethod
    def each(items: Sequence[T], orb_id: Callable[[T], str], write: Callable[[T], str | Outcome]) -> list[Outcome]:
        """The per-record failure loop: `write` each item; a ProviderError fails that record only (the others go
        on); ProviderUnavailable stops the run. `write` returns the provider id (or a whole Outcome)."""
        out = []
        for item in items:
            try:
                result = write(item)
            except ProviderError as exc:
                out.append(Outcome(orb_id(item), None, str(exc)))
            else:
                out.append(result if isinstance(result, Outcome) else Outcome(orb_id(item), result))
        return out

    @staticmethod
    def batch_then_isolate(items: Sequence[T], write_all: Callable[[Sequence[T]], None],
                           on_refused: Callable[[T, ProviderError], None] | None = None) -> dict[int, str]:
        """Write many items in one call; when the provider refuses the call (all or nothing), split the batch in
        halves until each refused item stands alone. Returns {index: error} of the refused items;
        `on_refused` cleans up after one (e.g. deletes its draft)."""
        refused: dict[int, str] = {}

        def attempt(indexes: list[int]) -> None:
            try:
                write_all([items[i] for i in indexes])
            except ProviderError as exc:
                if len(indexes) == 1:
                    refused[indexes[0]] = str(exc)
                    if on_refused is not None:
                        on_refused(items[indexes[0]], exc)
                    return
                half = len(indexes) // 2
                attempt(indexes[:half])
                attempt(indexes[half:])

        if items:
            attempt(list(range(len(items))))
        return refused
