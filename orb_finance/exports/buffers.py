"""In-memory rows of one chunk of the export, by resource and delivery batch, before they are written.

Owns the delivery rule. Bulk layout: an object's first version goes to the batch its `updated_at` falls in
(batch 1 up to the first delivery's cut, else batch 2); a later version of the same object always goes to
batch 2, so the row with the newer `updated_at` also comes from the file whose name sorts last. Daily layout:
every row is delivered at its `updated_at` (the writer turns that into a day's file); a re-sent copy one
delivery later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from . import schema
from .calendar import Calendar
from .schema import Row


class DailyLine(NamedTuple):
    """An invoice line to expand into daily revenue rows (in DuckDB), with its split and revert plan."""

    line_id: str
    invoice_id: str
    customer_id: str
    subscription_id: str | None
    price_id: str
    item_id: str
    invoicing_currency: str
    pricing_currency: str
    line_key: int            # unique int of the line: seeds the day weights
    first_day: int           # epoch day of the service start
    n_days: int              # days in the service period
    even: bool               # equal daily weights (fixed fees) or varying ones (usage)
    quantity: int            # the line's ladder, micro-units ...
    subtotal: int
    adjusted_subtotal: int
    credits_applied: int
    conversion_rate: int
    partially_invoiced_amount: int
    amount: int
    rounded_minor: int       # ... and rounded_amount in minor units
    micro_per_minor: int
    created_base: int        # rows exist from this instant (the invoice's creation)
    void_at: int | None = None       # every row reverted then (invoice voided)
    revise_at: int | None = None     # backdated change: rows from revise_from on reverted and replaced then
    revise_from: int | None = None


class Delivered(NamedTuple):
    """A row of the daily layout: delivered at instant `at` (its updated_at), or one delivery later (`resent`)."""

    row: Row
    at: int
    resent: bool


@dataclass
class Buffers:
    calendar: Calendar
    daily: bool = False
    rows: dict[tuple[str, int], list[Row]] = field(default_factory=lambda: defaultdict(list))
    delivered: dict[str, list[Delivered]] = field(default_factory=lambda: defaultdict(list))
    daily_lines: list[DailyLine] = field(default_factory=list)

    def add(self, resource: str, row: Row, batch: int | None = None, *, at: int | None = None,
            resent: bool = False) -> None:
        """One row; its batch from its updated_at unless given (bulk), delivered at `at`, default its
        updated_at (daily). `resent`: a copy of a row delivered before, sent again (batch 2 / one delivery later)."""
        if self.daily:
            when = schema.get(resource, row, "updated_at") if at is None else at
            self.delivered[resource].append(Delivered(row, when, resent))
            return
        if batch is None:
            batch = self.calendar.batch_of(schema.get(resource, row, "updated_at"))
        self.rows[(resource, batch)].append(row)

    def add_versions(self, resource: str, first: Row, final: Row) -> None:
        """An object delivered twice: its earlier state first, its final state (newer updated_at) in batch 2."""
        if schema.get(resource, final, "updated_at") <= schema.get(resource, first, "updated_at"):
            raise ValueError(f"{resource}: a later version needs a newer updated_at")
        self.add(resource, first)
        self.add(resource, final, batch=2)

    def add_history(self, resource: str, versions: list[Row]) -> None:
        """An object delivered in several versions, each with a newer updated_at (the last is its final state)."""
        if len(versions) == 1:
            self.add(resource, versions[0])
        elif len(versions) == 2:
            self.add_versions(resource, versions[0], versions[1])
        else:
            stamps = [schema.get(resource, v, "updated_at") for v in versions]
            if any(b <= a for a, b in zip(stamps, stamps[1:])):
                raise ValueError(f"{resource}: each later version needs a newer updated_at")
            self.add(resource, versions[0])
            for version in versions[1:]:
                self.add(resource, version, batch=2)
