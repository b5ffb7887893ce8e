"""The simulated objects of one customer (invoices, lines, credit notes, payments, ledger and balance entries).

Plain dataclasses with integer money: ladder amounts in micro-units, rounded amounts, tax and totals in the
invoicing currency's minor units. `simulate` creates them, `emit` turns them into export rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Price


@dataclass
class Line:
    """An invoice line item with its value ladder (SPEC §2.1, orb-domain §3)."""

    id: str
    price: Price
    name: str
    start: int                 # service period start (inclusive), epoch seconds
    end: int                   # service period end (exclusive)
    quantity: int              # micro-units
    subtotal: int              # micro-units of the pricing currency
    adjusted_subtotal: int
    credits_applied: int
    partially_invoiced_amount: int   # micro-units of the invoicing currency
    amount: int
    rounded: int               # minor units of the invoicing currency
    tax: int                   # minor units
    even: bool                 # ratable (fixed fee) or usage-shaped daily revenue
    key: int = 0               # unique int (seeds daily weights)
    revise_at: int | None = None
    revise_from: int | None = None

    @property
    def total(self) -> int:
        return self.rounded + self.tax


@dataclass
class Invoice:
    id: str
    number: str
    source: str                       # subscription | partial | one_off
    subscription_id: str | None
    invoice_date: int
    created_at: int
    lines: list[Line] = field(default_factory=list)
    status: str = "issued"            # draft | issued | paid | void
    issued_at: int | None = None
    due_date: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    deleted_at: int | None = None
    balance_applied: int = 0          # minor units taken off amount_due (negative: added to it)
    credit_purchase: bool = False
    memo: str | None = None
    replaces: str | None = None       # the voided invoice this one re-issues
    charge_id: str | None = None      # the succeeded processor charge, if any
    total_override: int | None = None  # deleted drafts carry a (tax-free) total but no lines

    @property
    def subtotal(self) -> int:
        if self.total_override is not None:
            return self.total_override
        return sum(line.rounded for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + self.tax

    @property
    def amount_due(self) -> int:
        return self.total - self.balance_applied

    @property
    def included(self) -> bool:
        return self.status != "draft" and self.voided_at is None and self.deleted_at is None


@dataclass
class Attempt:
    id: str
    invoice: Invoice
    at: int
    amount: int                       # minor units
    succeeded: bool
    charge_id: str


@dataclass
class Charge:
    """A Stripe charge (processor_payments row)."""

    id: str
    amount_minor: int
    currency: str
    status: str
    created: int
    invoice_id: str
    customer_id: str
    fee_minor: int


@dataclass
class CreditNoteLine:
    id: str
    invoice_line_id: str | None      # None: a credit of the invoice as a whole
    item_id: str
    name: str
    quantity: int                      # micro-units
    amount: int                        # minor units, before tax
    tax: int
    start: int | None
    end: int | None

    @property
    def total(self) -> int:
        return self.amount + self.tax


@dataclass
class CreditNote:
    id: str
    number: str
    invoice: Invoice
    type: str                          # refund | adjustment
    reason: str | None
    created_at: int
    lines: list[CreditNoteLine] = field(default_factory=list)
    voided_at: int | None = None
    deleted_at: int | None = None
    memo: str | None = None

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)


@dataclass
class LedgerEntry:
    id: str
    seq: int
    entry_type: str
    created_at: int
    amount: int                        # signed micro-units of credits
    starting: int
    ending: int
    block_id: str
    block_expiry: int
    cost_basis: int | None             # micro-units of invoicing currency per credit
    invoice_id: str | None
    price_id: str | None
    description: str
    reverted_at: int | None = None
    replaces: str | None = None        # the reverted entry this one re-emits

    @property
    def revenue_units(self) -> int:
        """SPEC §3 credit revenue units: |amount| for consumption and breakage, -|amount| for amendments."""
        if self.entry_type in ("decrement", "credit_block_expiry"):
            return abs(self.amount)
        if self.entry_type == "amendment":
            return -abs(self.amount)
        return 0

    @property
    def recognized_revenue(self) -> int:
        if self.cost_basis is None:
            return 0
        product = self.revenue_units * self.cost_basis
        if product % 1_000_000:
            raise ValueError("credit revenue does not fit six decimals")
        return product // 1_000_000


@dataclass
class BalanceTx:
    id: str
    created_at: int
    action: str
    type: str                          # increment | decrement
    amount: int                        # minor units, positive
    starting: int
    ending: int
    invoice_id: str | None = None
    credit_note_id: str | None = None
    description: str | None = None
    deleted_at: int | None = None
