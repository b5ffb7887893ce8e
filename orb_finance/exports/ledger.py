"""One customer's prepaid-credit ledger: blocks, and entries appended in time order with running balances.

Credits are in the customer's currency (1 credit = 1 unit), amounts in micro-units, always whole minor
units. Scheduled operations (grants, purchases, expiries, expiration changes, voids, amendments) wait in a
queue and are applied in time order whenever the simulation consumes credits or closes the ledger.
Signs follow Orb's API: increments and amendments positive, decrements, expiries and voids negative;
expiration_change carries the credits moved and void_initiated the credits to void, neither changes the
balance (ending_balance = starting_balance).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

from .domain import LedgerEntry


@dataclass
class Block:
    id: str
    cost_basis: int | None     # None: free credits
    expiry: int
    remaining: int
    created_at: int
    voided: bool = False

    def active(self, at: int) -> bool:
        return not self.voided and self.expiry > at and self.remaining > 0


@dataclass(order=True)
class _Pending:
    at: int
    order: int
    action: Callable[[int], None] = field(compare=False)


class CreditLedger:
    def __init__(self, new_id: Callable[[str], str], minor_step: int) -> None:
        self._new_id = new_id
        self._step = minor_step            # micro-units per minor unit: amounts stay whole minor units
        self.blocks: list[Block] = []
        self.entries: list[LedgerEntry] = []
        self.balance = 0
        self._queue: list[_Pending] = []
        self._order = 0

    # --- scheduling ------------------------------------------------------------------------------------

    def schedule(self, at: int, action: Callable[[int], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, _Pending(at, self._order, action))

    def flush(self, until: int) -> None:
        """Apply every scheduled operation due at or before `until`, in time order."""
        while self._queue and self._queue[0].at <= until:
            pending = heapq.heappop(self._queue)
            pending.action(pending.at)

    def has_credits(self) -> bool:
        """Whether any block exists or is still to come."""
        return bool(self.blocks or self._queue)

    # --- operations ------------------------------------------------------------------------------------

    def add_block(self, at: int, credits: int, cost_basis: int | None, expiry: int, invoice_id: str | None,
                  description: str) -> Block:
        block = Block(self._new_id("cb"), cost_basis, expiry, credits, at)
        self.blocks.append(block)
        self._entry(at, "increment", credits, credits, block, invoice_id, None, description)
        self.schedule(expiry, lambda t, b=block, e=expiry: self._expire(t, b, e))
        return block

    def consume(self, at: int, need: int, invoice_id: str, price_id: str) -> tuple[int, list[LedgerEntry]]:
        """Draw up to `need` credits at `at` (soonest expiry, then lower cost basis, then oldest block first)."""
        self.flush(at)
        need -= need % self._step
        drawn: list[LedgerEntry] = []
        for block in sorted((b for b in self.blocks if b.active(at)),
                            key=lambda b: (b.expiry, b.cost_basis or 0, b.created_at)):
            if need <= 0:
                break
            take = min(need, block.remaining)
            block.remaining -= take
            need -= take
            drawn.append(self._entry(at, "decrement", -take, -take, block, invoice_id, price_id, "Usage drawdown"))
        return sum(-e.amount for e in drawn), drawn

    def amend(self, at: int, decrement: LedgerEntry, fraction_pct: int) -> None:
        """Give back part of a decrement to its block (a usage correction), if the block is still live."""
        block = next(b for b in self.blocks if b.id == decrement.block_id)
        give = (-decrement.amount * fraction_pct // 100) // self._step * self._step
        if give <= 0 or block.voided or block.expiry <= at:
            return
        block.remaining += give
        self._entry(at, "amendment", give, give, block, decrement.invoice_id, decrement.price_id, "Usage correction")

    def change_expiry(self, at: int, block: Block, new_expiry: int) -> None:
        if not block.active(at):
            return
        block.expiry = new_expiry
        self._entry(at, "expiration_change", block.remaining, 0, block, None, None, "Expiry extended")
        self.schedule(new_expiry, lambda t, b=block, e=new_expiry: self._expire(t, b, e))

    def void(self, at: int, block: Block) -> None:
        """void_initiated then void of what is left of a (free) block."""
        if not block.active(at):
            return
        left = block.remaining
        self._entry(at, "void_initiated", left, 0, block, None, None, "Void requested: refund")
        block.remaining = 0
        block.voided = True
        self._entry(at + 60, "void", -left, -left, block, None, None, "Voided: refund")

    def _expire(self, at: int, block: Block, expiry: int) -> None:
        if block.voided or block.expiry != expiry or block.remaining <= 0:
            return
        left = block.remaining
        block.remaining = 0
        self._entry(at, "credit_block_expiry", -left, -left, block, None, None, "Credits expired")

    # --- entries ---------------------------------------------------------------------------------------

    def _entry(self, at: int, entry_type: str, amount: int, delta: int, block: Block, invoice_id: str | None,
               price_id: str | None, description: str) -> LedgerEntry:
        entry = LedgerEntry(
            id=self._new_id("cle"), seq=len(self.entries) + 1, entry_type=entry_type, created_at=at, amount=amount,
            starting=self.balance, ending=self.balance + delta, block_id=block.id, block_expiry=block.expiry,
            cost_basis=block.cost_basis, invoice_id=invoice_id, price_id=price_id, description=description,
        )
        self.balance += delta
        self.entries.append(entry)
        return entry
