"""What the sync asks a provider to write: one payload per Orb object, built from the sync marts' rows.

Owns the payload shapes (customer, invoice with lines, credit memo, payment, customer-balance entry, revenue
journal), the builders from mart rows (SyncData), and the payload hash that tells later whether Orb's data
changed since an object was sent. The accounting meaning of each field is in DECISIONLOG.md ("Books that tie
out") and in the README's mapping table per provider.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import MISSING, dataclass, fields, is_dataclass
from decimal import Decimal
from typing import Any, Union

# Where a credit memo's total is credited (SPEC §5.1): the receivable (an adjustment on an invoice not yet
# paid), the customer-balance liability (Orb put it in the customer's balance), or cash (refunded out).
RECEIVABLE, CUSTOMER_BALANCE, CASH, ADJUSTMENTS = "receivable", "customer_balance", "cash", "adjustments"
CREDIT_TARGETS = (RECEIVABLE, CUSTOMER_BALANCE, CASH)


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
    start_date: dt.date | None = None        # service period, inclusive
    end_date: dt.date | None = None          # service period, exclusive (Orb's end_date)
    origin_line_id: str | None = None        # credit memo line: the Orb invoice line item it credits
    item_name: str | None = None
    # The Orb item's external connections: ((connection name, external entity id), ...), e.g. quickbooks.
    item_connections: tuple[tuple[str, str], ...] = ()


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
    customer_balance_applied: Decimal   # total - amount_due, settled from (or added to) the customer's balance
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
    credit_target: str = RECEIVABLE     # receivable | customer_balance | cash


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
    settled_from: str = CASH         # cash | customer_balance (a small invoice carried into the balance)


@dataclass(frozen=True)
class BalanceTransactionPayload:
    """A movement of Orb's customer balance that no synced document books (SPEC §5.1): its own entry between
    the customer-balance liability and `contra` (cash, the balance-adjustments account, or the receivable)."""
    orb_id: str
    customer_orb_id: str
    customer_provider_id: str
    customer_name: str
    currency: str
    transaction_date: dt.date
    action: str
    amount: Decimal                  # the change of Orb's balance booked here: + owed to the customer, - owed by
    contra: str                      # cash | adjustments | receivable
    description: str | None = None
    invoice_orb_id: str | None = None
    credit_note_orb_id: str | None = None


# Revenue recognition from the warehouse (SPEC §5.2): the kinds of a journal line. The four revenue kinds are
# revenue_monthly's measures; deferred and unbilled revenue are the balance-sheet side.
USAGE, CREDIT_CONSUMPTION, CREDIT_BREAKAGE, CREDIT_NOTES = "usage", "credit_consumption", "credit_breakage", "credit_notes"
REVENUE_KINDS = (USAGE, CREDIT_CONSUMPTION, CREDIT_BREAKAGE, CREDIT_NOTES)
DEFERRED_REVENUE, UNBILLED_REVENUE = "deferred_revenue", "unbilled_revenue"


@dataclass(frozen=True)
class JournalLine:
    kind: str                        # one of REVENUE_KINDS, deferred_revenue or unbilled_revenue
    amount: Decimal                  # debit positive, credit negative
    month: dt.date                   # the month this line's revenue belongs to (a correction: an earlier month)


@dataclass(frozen=True)
class RevenueJournalPayload:
    """One month's recognized revenue in one currency (SPEC §5.2), moved from deferred revenue to the revenue
    accounts, with the corrections of earlier, already journaled months and the unbilled-revenue reclassification."""
    orb_id: str                      # revenue:<YYYY-MM>:<CUR>
    currency: str
    month: dt.date                   # the month journaled (first day)
    entry_date: dt.date              # its last day
    lines: tuple[JournalLine, ...]
    corrects: tuple[dt.date, ...] = ()   # earlier months whose late changes this entry carries

    def to_json(self) -> str:
        return json.dumps([[l.kind, str(l.amount), l.month.isoformat()] for l in self.lines], separators=(",", ":"))

    @staticmethod
    def lines_from_json(text: str | None) -> list[JournalLine]:
        if not text:
            return []
        return [JournalLine(k, Decimal(a), dt.date.fromisoformat(m)) for k, a, m in json.loads(text)]


Payload = Union[CustomerPayload, InvoicePayload, CreditMemoPayload, PaymentPayload, BalanceTransactionPayload,
                RevenueJournalPayload]


# --- the payload hash ---------------------------------------------------------------------------------

_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = tuple((f.name, f.default if f.default is not MISSING else MISSING) for f in fields(cls))
    return known


def _canonical(value: Any) -> Any:
    """A payload as plain JSON values. A field left at its default is omitted, so adding an optional field to a
    payload class does not make every object already sent look changed."""
    cls = type(value)
    if value is None or cls is str or cls is int or cls is bool:
        return value
    if cls is Decimal or cls is dt.date:
        return str(value)
    if cls is tuple or cls is list:
        return [_canonical(v) for v in value]
    if not is_dataclass(value):
        return str(value)
    out: dict[str, Any] = {"": cls.__name__}
    for name, default in _defaults(cls):
        v = getattr(value, name)
        if default is not MISSING and v == default:
            continue
        out[name] = _canonical(v)
    return out


def payload_hash(payload: Payload) -> str:
    """sha256 of the payload's canonical JSON: what was sent, to tell later whether Orb's data changed."""
    text = json.dumps(_canonical(payload), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- building payloads from the sync marts ----------------------------------------------------------

def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def customer_payload(row: dict[str, Any]) -> CustomerPayload:
    return CustomerPayload(orb_id=row["customer_id"], name=row["customer_name"] or row["customer_id"],
                           currency=row["currency"], email=row["email"],
                           external_customer_id=row["external_customer_id"])


def _line(data, row: dict[str, Any], orb_id: str, **extra: Any) -> LinePayload:
    item = data.items.get(row["item_id"]) if row.get("item_id") else None
    return LinePayload(
        orb_id=orb_id, description=row["line_name"] or orb_id,
        quantity=row["quantity"] if row["quantity"] is not None else Decimal(1), amount=row["amount"],
        tax_amount=row["tax_amount"], item_id=row["item_id"],
        item_name=item["item_name"] if item else None, item_connections=data.item_connections(row["item_id"]),
        **extra)


def invoice_payload(data, inv: dict[str, Any], customer_pid: str, *, skip_zero_lines: bool = False) -> InvoicePayload:
    lines = []
    for l in data.lines.get(inv["invoice_id"], []):
        if skip_zero_lines and l["amount"] == 0 and l["tax_amount"] == 0:
            continue
        lines.append(_line(data, l, l["invoice_line_item_id"], start_date=_date(l["start_date"]),
                           end_date=_date(l["end_date"])))
    customer = data.customers.get(inv["customer_id"], {})
    return InvoicePayload(
        orb_id=inv["invoice_id"], number=inv["invoice_number"], customer_orb_id=inv["customer_id"],
        customer_provider_id=customer_pid, customer_name=customer.get("customer_name") or inv["customer_id"],
        currency=inv["currency"], invoice_date=inv["invoice_date"], due_date=inv["due_date"], total=inv["total"],
        amount_due=inv["amount_due"], customer_balance_applied=inv["customer_balance_applied"],
        adjustment_amount=inv["adjustment_amount"], lines=tuple(lines), memo=inv["memo"])


def memo_payload(data, memo: dict[str, Any], invoice_pid: str, customer_pid: str | None) -> CreditMemoPayload:
    lines = tuple(_line(data, l, l["credit_note_line_item_id"], origin_line_id=l["invoice_line_item_id"])
                  for l in data.memo_lines.get(memo["credit_note_id"], []))
    customer = data.customers.get(memo["customer_id"], {})
    return CreditMemoPayload(
        orb_id=memo["credit_note_id"], number=memo["credit_note_number"], invoice_orb_id=memo["invoice_id"],
        invoice_provider_id=invoice_pid, invoice_number=memo["invoice_number"], customer_orb_id=memo["customer_id"],
        customer_provider_id=customer_pid or "", customer_name=customer.get("customer_name") or memo["customer_id"],
        currency=memo["currency"], memo_date=memo["credit_note_date"], credit_note_type=memo["credit_note_type"],
        reason=memo["reason"], amount=memo["amount"], tax_amount=memo["tax_amount"], total=memo["total"],
        lines=lines, credit_target=memo.get("credit_target") or RECEIVABLE)


def payment_payload(data, pay: dict[str, Any], invoice_pid: str, customer_pid: str | None) -> PaymentPayload:
    customer = data.customers.get(pay["customer_id"], {})
    return PaymentPayload(
        orb_id=pay["payment_id"], invoice_orb_id=pay["invoice_id"], invoice_provider_id=invoice_pid,
        invoice_number=pay["invoice_number"], customer_orb_id=pay["customer_id"],
        customer_provider_id=customer_pid or "", customer_name=customer.get("customer_name") or pay["customer_id"],
        currency=pay["currency"], payment_date=pay["payment_date"], amount=pay["amount"],
        source=pay["payment_source"], payment_provider=pay["payment_provider"],
        payment_provider_id=pay["payment_provider_id"], settled_from=pay.get("settled_from") or CASH)


def balance_payload(data, row: dict[str, Any], customer_pid: str) -> BalanceTransactionPayload:
    customer = data.customers.get(row["customer_id"], {})
    return BalanceTransactionPayload(
        orb_id=row["balance_transaction_id"], customer_orb_id=row["customer_id"], customer_provider_id=customer_pid,
        customer_name=customer.get("customer_name") or row["customer_id"],
        currency=row["currency"] or customer.get("currency"), transaction_date=row["transaction_date"],
        action=row["action"], amount=row["amount_to_book"], contra=row["contra_account"],
        description=row["description"], invoice_orb_id=row["invoice_id"], credit_note_orb_id=row["credit_note_id"])
