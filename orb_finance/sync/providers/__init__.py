"""The provider interface of the accounting sync, the payloads it sends, and the registry of providers.

A provider is one module implementing `Provider` plus one line in `PROVIDERS`; the engine (sync/engine.py)
decides what to send and records every attempt, a provider only talks to its accounting system.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from dataclasses import dataclass, field, fields, is_dataclass
from decimal import Decimal
from typing import Any, ClassVar, Protocol, Sequence, Union, runtime_checkable

from ...errors import OrbFinanceError

# Object types, in the order a run sends them (parents before dependents).
CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT = "customer", "invoice", "credit_memo", "payment"
OBJECT_TYPES = (CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT)

# name -> "module:Class", imported on first use so a run loads only its own provider's client code.
PROVIDERS: dict[str, str] = {
    "beancount": "orb_finance.sync.providers.beancount:BeancountProvider",
    "tryton": "orb_finance.sync.providers.tryton:TrytonProvider",
}


class ProviderError(Exception):
    """The provider refused one record (validation, a closed period, a missing rate...): the record fails
    with this message and is not retried until someone runs `orbfin sync retry`."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or stayed busy after backing off (network, rate limit, 5xx).
    The run stops; records in flight stay `pending` and are resolved by looking them up on the next run."""


# --- payloads: what a provider is asked to write --------------------------------------------------------

@dataclass(frozen=True)
class CustomerPayload:
    orb_id: str
    name: str
    currency: str | None
    email: str | None = None
    external_customer_id: str | None = None


@dataclass(frozen=True)
class LinePayload:
    orb_id: str
    description: str
    quantity: Decimal
    amount: Decimal          # before tax
    tax_amount: Decimal
    item_id: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    origin_line_id: str | None = None   # credit memo line: the Orb invoice line item it credits


@dataclass(frozen=True)
class InvoicePayload:
    orb_id: str
    number: str | None
    customer_orb_id: str
    customer_provider_id: str
    customer_name: str
    currency: str
    invoice_date: dt.date
    due_date: dt.date | None
    total: Decimal
    amount_due: Decimal
    customer_balance_applied: Decimal   # total - amount_due, settled from the customer's balance
    adjustment_amount: Decimal          # total - lines - tax: invoice-level amounts on no line
    lines: tuple[LinePayload, ...]
    memo: str | None = None

    @property
    def revenue(self) -> Decimal:
        return sum((l.amount for l in self.lines), Decimal(0))

    @property
    def tax(self) -> Decimal:
        return sum((l.tax_amount for l in self.lines), Decimal(0))


@dataclass(frozen=True)
class CreditMemoPayload:
    orb_id: str
    number: str | None
    invoice_orb_id: str
    invoice_provider_id: str
    invoice_number: str | None
    customer_orb_id: str
    customer_provider_id: str
    customer_name: str
    currency: str
    memo_date: dt.date
    credit_note_type: str | None
    reason: str | None
    amount: Decimal
    tax_amount: Decimal
    total: Decimal
    lines: tuple[LinePayload, ...]


@dataclass(frozen=True)
class PaymentPayload:
    orb_id: str
    invoice_orb_id: str
    invoice_provider_id: str
    invoice_number: str | None
    customer_orb_id: str
    customer_provider_id: str
    customer_name: str
    currency: str
    payment_date: dt.date
    amount: Decimal
    source: str                      # payment_attempt | marked_paid
    payment_provider: str | None = None
    payment_provider_id: str | None = None


Payload = Union[CustomerPayload, InvoicePayload, CreditMemoPayload, PaymentPayload]


@dataclass(frozen=True)
class Removal:
    """Take an object out of the provider: void an invoice, delete a credit memo, void a payment."""
    orb_id: str
    provider_id: str
    on_date: dt.date
    why: str                         # void | delete | resync
    customer_provider_id: str | None = None
    currency: str | None = None


@dataclass
class Outcome:
    orb_id: str
    provider_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _canonical(value: Any) -> Any:
    """A payload as plain JSON values: [class, field values...] for dataclasses, text for decimals and dates."""
    cls = type(value)
    if value is None or cls is str or cls is int or cls is bool:
        return value
    if cls is Decimal or cls is dt.date:
        return str(value)
    if cls is tuple or cls is list:
        return [_canonical(v) for v in value]
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not is_dataclass(value):
            return str(value)
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(value))
    return [cls.__name__, *[_canonical(getattr(value, n)) for n in names]]


def payload_hash(payload: Payload) -> str:
    """sha256 of the payload's canonical JSON: what was sent, to tell later whether Orb's data changed."""
    text = json.dumps(_canonical(payload), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@runtime_checkable
class Provider(Protocol):
    """One accounting system. Every method may raise ProviderUnavailable; per-record refusals are Outcomes."""

    name: ClassVar[str]

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        """The live provider object of each Orb id that has one (voided/deleted ones do not count)."""

    def create(self, object_type: str, payloads: Sequence[Payload]) -> list[Outcome]:
        """Create the objects (a provider may batch); one Outcome per payload, in order. Durable on return."""

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        """Void/delete the objects; removing one that is already gone succeeds."""

    def check_customer(self, provider_customer_id: str) -> str:
        """Validate a customer to map Orb customers to; returns its canonical id or raises ProviderError."""

    def close(self) -> None:
        """Release connections and files; called once at the end of a run."""


def provider_class(name: str) -> type:
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise OrbFinanceError(f"Unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}.") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
