"""One customer's account balance (customer_balance_transaction), in minor units of the customer's currency.

Positive balance = credit owed to the customer (Orb's convention). Balance changes that happen on their
own (goodwill, refund credit notes, small-invoice carryovers) are queued with their time; when an invoice
is issued, every change before it is booked first, then the balance is applied to the invoice: a positive
balance as an `applied_to_invoice` decrement (amount_due goes down), a negative one as an
`applied_to_invoice` increment (amount_due goes up).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

from .domain import BalanceTx, Invoice


@dataclass(order=True)
class _Pending:
    at: int
    order: int
    action: str = field(compare=False)
    type: str = field(compare=False)
    amount: int = field(compare=False)
    invoice_id: str | None = field(compare=False, default=None)
    credit_note_id: str | None = field(compare=False, default=None)
    description: str | None = field(compare=False, default=None)


class BalanceBook:
    def __init__(self, new_id: Callable[[str], str]) -> None:
        self._new_id = new_id
        self.balance = 0
        self.transactions: list[BalanceTx] = []
        self._queue: list[_Pending] = []
        self._order = 0

    def schedule(self, at: int, action: str, type_: str, amount: int, *, invoice_id: str | None = None,
                 credit_note_id: str | None = None, description: str | None = None) -> None:
        self._order += 1
        heapq.heappush(self._queue, _Pending(at, self._order, action, type_, amount, invoice_id, credit_note_id,
                                             description))

    def flush(self, until: int) -> None:
        while self._queue and self._queue[0].at <= until:
            p = heapq.heappop(self._queue)
            self._book(p.at, p.action, p.type, p.amount, p.invoice_id, p.credit_note_id, p.description)

    def apply_to(self, invoice: Invoice, at: int) -> None:
        """Book what happened before `at`, then apply the balance to `invoice` (issued at `at`)."""
        self.flush(at - 1)
        if self.balance > 0:
            used = min(self.balance, invoice.total)
            if used > 0:
                invoice.balance_applied = used
                self._book(at, "applied_to_invoice", "decrement", used, invoice.id, None, None)
        elif self.balance < 0:
            owed = -self.balance
            invoice.balance_applied = -owed
            self._book(at, "applied_to_invoice", "increment", owed, invoice.id, None, None)

    def _book(self, at: int, action: str, type_: str, amount: int, invoice_id: str | None,
              credit_note_id: str | None, description: str | None) -> BalanceTx:
        delta = amount if type_ == "increment" else -amount
        tx = BalanceTx(self._new_id("cbt"), at, action, type_, amount, self.balance, self.balance + delta,
                       invoice_id, credit_note_id, description)
        self.balance += delta
        self.transactions.append(tx)
        return tx

    def book_now(self, at: int, action: str, type_: str, amount: int, *, description: str | None = None,
                 invoice_id: str | None = None) -> BalanceTx:
        """Book a change immediately (after everything queued before it)."""
        self.flush(at)
        return self._book(at, action, type_, amount, invoice_id, None, description)
