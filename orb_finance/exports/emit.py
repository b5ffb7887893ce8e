"""Turns one simulated customer history into export rows (and daily lines to expand), version by version.

Owns how objects show up in the feeds: `updated_at` bookkeeping, which objects are delivered twice (voids,
deletions, reverts, and a few percent of paid invoices and re-sent customers), the `_event` rows with their
lock-adjusted timestamps, revert events, and exact duplicates of some events in the later batch.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from . import money, schema
from .buffers import Buffers, DailyLine
from .calendar import DAY, HOUR, MINUTE, LockBook
from .domain import CreditNote, Invoice, LedgerEntry, Line
from .ids import IdMaker, seeded_random
from .simulate import Adjustment, Context, CustomerHistory, Subscription

_DUPLICATE_EVENT_SHARE = 0.01   # events delivered again, identical, in batch 2
_EARLIER_VERSION_SHARE = 0.05   # paid invoices first delivered as issued
_REVISION_SHARE = 0.015         # billed lines whose daily revenue gets a backdated change
_SHOWCASE_CUSTOMERS = 9         # customers 0-8 also duplicate their first event of each kind


class Emitter:
    def __init__(self, ctx: Context, history: CustomerHistory, out: Buffers) -> None:
        self.ctx, self.h, self.out = ctx, history, out
        self.cal = ctx.calendar
        self.locks: LockBook = ctx.catalog.lock_book
        index = history.profile.index
        self.rng: random.Random = seeded_random(ctx.seed, index, 3)
        self.ids = IdMaker(seeded_random(ctx.seed, index, 4))
        self.ccy = history.profile.currency
        self.step = money.micro_per_minor(self.ccy)
        self.cid = history.customer_id
        self._revised: list[str] = []
        self._duplicated: set[str] = set()

    def micro(self, minor: int) -> int:
        return minor * self.step

    def event_batch(self, resource: str, row: schema.Row) -> None:
        """An event row, and now and then an exact duplicate of it in the later delivery."""
        self.out.add(resource, row)
        first_of_showcase = self.h.profile.index < _SHOWCASE_CUSTOMERS and resource not in self._duplicated
        if self.rng.random() < _DUPLICATE_EVENT_SHARE or first_of_showcase:
            self._duplicated.add(resource)
            self.out.add(resource, row, batch=2, resent=True)

    # --- everything ------------------------------------------------------------------------------------

    def emit(self) -> None:
        self.customer()
        if self.h.subscription is not None:
            self.subscription(self.h.subscription)
        for invoice in self.h.invoices:
            self.invoice(invoice)
        self.payments()
        for note in self.h.credit_notes:
            self.credit_note(note)
        self.balance_transactions()
        self.ledger()

    # --- customer and subscription ---------------------------------------------------------------------

    def customer(self) -> None:
        p, h = self.h.profile, self.h
        slug = "".join(ch for ch in p.name.lower() if ch.isalnum())[:18]
        provider, provider_id = ("stripe_charge", h.stripe_customer_id) if p.stripe else (
            ("quickbooks", f"QB-{10_000 + p.index}") if p.index % 3 == 0 else (None, None))
        row = schema.make_row(
            "customer", id=self.cid, created_at=h.created_at, updated_at=h.created_at + 2 * MINUTE,
            external_customer_id=f"acct-{p.index:06d}", name=p.name, email=f"billing@{slug}{p.index}.example",
            currency=self.ccy, timezone=p.timezone, payment_provider=provider, payment_provider_id=provider_id,
            billing_address=p.billing_address(p.index % 900 + 1),
            metadata=json.dumps({"segment": p.tier, "region": p.country}),
        )
        if p.deleted:
            deleted_at = min(h.created_at + self.rng.randint(20, 60) * DAY, self.cal.end_ts - DAY)
            self.out.add_versions("customer", row, schema.replace("customer", row, deleted_at=deleted_at,
                                                                    updated_at=deleted_at + MINUTE))
        elif self.rng.random() < 0.03 and h.created_at + 10 * DAY < self.cal.end_ts:
            changed = min(h.created_at + self.rng.randint(10, 60) * DAY, self.cal.end_ts - HOUR)
            first = schema.replace("customer", row, email=f"ap@{slug}{p.index}.example")
            self.out.add_versions("customer", first, schema.replace("customer", row, updated_at=changed))
        else:
            self.out.add("customer", row)

    def subscription(self, sub: Subscription) -> None:
        first_plan, final_plan = sub.versions[0].plan, sub.versions[-1].plan
        ended = sub.end is not None and sub.end <= self.cal.end_ts
        row = schema.make_row(
            "subscription", id=sub.id, created_at=sub.created_at, updated_at=sub.created_at + MINUTE,
            customer_id=self.cid, plan_id=first_plan.id, status="active", start_date=sub.versions[0].start,
            end_date=None, net_terms=sub.net_terms, invoicing_threshold=sub.threshold,
            metadata=json.dumps({"sales_channel": "self_serve" if first_plan.tier == "starter" else "sales"}),
        )
        changes = [v.start - 3 * DAY for v in sub.versions[1:]]
        if sub.end is not None:
            changes.append(sub.end + MINUTE if ended else sub.end - 12 * DAY)
        if changes:
            final = schema.replace("subscription", row, plan_id=final_plan.id, end_date=sub.end,
                                   status="ended" if ended else "active", updated_at=max(changes))
            self.out.add_versions("subscription", row, final)
        else:
            self.out.add("subscription", row)
        for n, version in enumerate(sub.versions):
            created = sub.created_at if n == 0 else version.start - 3 * DAY
            ended_at = version.end if version.end is not None and version.end <= self.cal.end_ts else None
            self.out.add("subscription_version", schema.make_row(
                "subscription_version", id=version.id, created_at=created,
                updated_at=max(created, ended_at or created) + MINUTE, subscription_id=sub.id,
                plan_id=version.plan.id, start_date=version.start, ended_at=ended_at,
            ))
            for price in version.plan.prices:
                quantity = None if price.is_usage else (
                    self.h.profile.seats * money.MICRO if price.kind == "seats" else money.MICRO)
                self.out.add("price_interval", schema.make_row(
                    "price_interval", id=version.interval_ids[price.id], created_at=created,
                    updated_at=created + MINUTE, subscription_id=sub.id, price_id=price.id, start_date=version.start,
                    end_date=version.end, fixed_fee_quantity=quantity,
                ))
        for adj in sub.adjustments:
            self.adjustment(sub, adj)

    def adjustment(self, sub: Subscription, adj: Adjustment) -> None:
        created = sub.created_at + 2 * MINUTE
        self.out.add("adjustment", schema.make_row(
            "adjustment", id=adj.id, created_at=created, updated_at=created, adjustment_type="percentage_discount",
            percentage_discount=adj.ppm, is_invoice_level=False, applies_to_price_ids=json.dumps(sorted(adj.price_ids)),
            reason=adj.reason,
        ))
        self.out.add("adjustment_interval", schema.make_row(
            "adjustment_interval", id=adj.interval_id, created_at=created, updated_at=created, adjustment_id=adj.id,
            subscription_id=sub.id, start_date=adj.start, end_date=adj.end,
        ))
        if adj.coupon_id is not None:
            self.out.add("coupon_redemption", schema.make_row(
                "coupon_redemption", id=adj.redemption_id, created_at=created, updated_at=created,
                coupon_id=adj.coupon_id, subscription_id=sub.id, adjustment_id=adj.id, start_date=adj.start,
                end_date=adj.end,
            ))

    # --- invoices ----------------------------------------------------------------------------------------

    def invoice(self, inv: Invoice) -> None:
        stripe = self.h.profile.stripe
        row = schema.make_row(
            "invoice_metadata", id=inv.id, created_at=inv.created_at, invoice_number=inv.number,
            customer_id=self.cid, subscription_id=inv.subscription_id, status=inv.status,
            invoice_source=inv.source, invoicing_currency=self.ccy, subtotal=self.micro(inv.subtotal),
            total=self.micro(inv.total), amount_due=self.micro(inv.amount_due), invoice_date=inv.invoice_date,
            due_date=inv.due_date, issued_at=inv.issued_at, paid_at=inv.paid_at, voided_at=inv.voided_at,
            payment_provider="stripe" if stripe else None, payment_provider_id=inv.charge_id, memo=inv.memo,
            metadata=json.dumps({"po_number": f"PO-{inv.number[-4:]}"}) if self.rng.random() < 0.2 else None,
        )
        if inv.status == "draft" and inv.deleted_at is None:
            versions = [schema.replace("invoice_metadata", row, updated_at=self.cal.end_ts - 30 * MINUTE)]
        elif inv.deleted_at is not None:
            versions = [schema.replace("invoice_metadata", row, updated_at=inv.created_at + 5 * MINUTE),
                        schema.replace("invoice_metadata", row, updated_at=inv.deleted_at + MINUTE,
                                       deleted_at=inv.deleted_at)]
        else:
            assert inv.issued_at is not None
            final_at = max(t for t in (inv.issued_at, inv.paid_at, inv.voided_at) if t is not None) + 5 * MINUTE
            final = schema.replace("invoice_metadata", row, updated_at=final_at)
            earlier = inv.voided_at is not None or (inv.paid_at is not None and inv.paid_at > inv.issued_at + HOUR
                                                     and self.rng.random() < _EARLIER_VERSION_SHARE)
            versions = [final]
            if earlier:
                versions.insert(0, schema.replace("invoice_metadata", row, status="issued", paid_at=None,
                                                  voided_at=None, payment_provider_id=None,
                                                  updated_at=inv.issued_at + 5 * MINUTE))
        if self.out.daily:
            versions = self._draft_first(inv, row, versions)
        self.out.add_history("invoice_metadata", versions)
        if inv.status != "draft" and inv.deleted_at is None:
            for line in inv.lines:
                self.billing_line(inv, line)
        for line in inv.lines:
            self.daily_line(inv, line)

    def _draft_first(self, inv: Invoice, row: schema.Row, versions: list[schema.Row]) -> list[schema.Row]:
        """Daily layout: the invoice is delivered from its creation, as a draft, so every row that refers to it
        (its daily revenue accrues from then on) arrives no earlier than the invoice itself."""
        first_at = schema.get("invoice_metadata", versions[0], "updated_at")
        if inv.created_at >= first_at:
            return versions
        draft = schema.replace("invoice_metadata", row, status="draft", issued_at=None, paid_at=None, voided_at=None,
                               payment_provider_id=None, updated_at=inv.created_at)
        return [draft, *versions]

    def _billing_values(self, inv: Invoice, line: Line) -> dict[str, object]:
        return dict(
            invoice_id=inv.id, customer_id=self.cid, subscription_id=inv.subscription_id, price_id=line.price.id,
            item_id=line.price.item_id, name=line.name, start_date=line.start, end_date=line.end,
            quantity=line.quantity, subtotal=line.subtotal, adjusted_subtotal=line.adjusted_subtotal,
            credits_applied=line.credits_applied, conversion_rate=line.price.conversion_rate,
            partially_invoiced_amount=line.partially_invoiced_amount, amount=line.amount,
            rounded_amount=self.micro(line.rounded), tax_amount=self.micro(line.tax), total=self.micro(line.total),
            invoicing_currency=self.ccy, pricing_currency=line.price.currency, invoice_date=inv.invoice_date,
        )

    def billing_line(self, inv: Invoice, line: Line) -> None:
        assert inv.issued_at is not None
        values = self._billing_values(inv, line)
        row = schema.make_row("invoice_line_item_billing", id=line.id, created_at=inv.issued_at,
                              updated_at=inv.issued_at + 5 * MINUTE, **values)
        voided = inv.voided_at
        final = None if voided is None else dict(voided_at=voided, updated_at=voided + 5 * MINUTE)
        self.line_with_events("invoice_line_item_billing", row, final, "ilbe", at=inv.issued_at, ended=voided,
                              revert_voided_at=voided, invoice_line_item_id=line.id, **values)

    def line_with_events(self, resource: str, row: schema.Row, final: dict | None, id_prefix: str, *,
                         at: dt.datetime, ended: dt.datetime | None, revert_voided_at: dt.datetime | None,
                         **event_values) -> None:
        """A line row (with its final, ended version in the later delivery when `final` is given) and its
        `<resource>_event` row at `at`; when the line ended (voided or deleted), the event's revert at `ended`."""
        if final is not None:
            self.out.add_versions(resource, row, schema.replace(resource, row, **final))
        else:
            self.out.add(resource, row)
        event = f"{resource}_event"
        self.event_batch(event, schema.make_row(
            event, id=self.ids.new(id_prefix), created_at=at, updated_at=at, timestamp=at,
            lock_adjusted_timestamp=self.locks.adjust(at, at), is_revert=False, **event_values))
        if ended is not None:
            self.event_batch(event, schema.make_row(
                event, id=self.ids.new(id_prefix), created_at=ended, updated_at=ended, timestamp=at,
                lock_adjusted_timestamp=self.locks.adjust(at, ended), is_revert=True, voided_at=revert_voided_at,
                **event_values))

    def daily_line(self, inv: Invoice, line: Line) -> None:
        """Queue the line for daily expansion (days of its service period before the export end)."""
        if inv.deleted_at is not None or line.start >= self.cal.end_ts:
            return
        if line.end > self.cal.end_ts:
            raise ValueError(f"line {line.id} straddles the export end")
        self._plan_revision(inv, line)
        self.out.daily_lines.append(DailyLine(
            line_id=line.id, invoice_id=inv.id, customer_id=self.cid, subscription_id=inv.subscription_id,
            price_id=line.price.id, item_id=line.price.item_id, invoicing_currency=self.ccy,
            pricing_currency=line.price.currency, line_key=line.key, first_day=line.start // DAY,
            n_days=(line.end - line.start) // DAY, even=line.even, quantity=line.quantity, subtotal=line.subtotal,
            adjusted_subtotal=line.adjusted_subtotal, credits_applied=line.credits_applied,
            conversion_rate=line.price.conversion_rate, partially_invoiced_amount=line.partially_invoiced_amount,
            amount=line.amount, rounded_minor=line.rounded, micro_per_minor=self.step, created_base=inv.created_at,
            void_at=inv.voided_at, revise_at=line.revise_at, revise_from=line.revise_from,
        ))

    def _plan_revision(self, inv: Invoice, line: Line) -> None:
        """A backdated change: from some day on, the line's daily rows are reverted and re-emitted."""
        if not inv.included or inv.credit_purchase or line.rounded <= 0:
            return
        n_days = (line.end - line.start) // DAY
        forced = self.h.profile.has("revision") and len(self._revised) < 2 and n_days >= 28
        if not forced and self.rng.random() >= _REVISION_SHARE:
            return
        delay = (2 if not self._revised else 40) * DAY if forced else self.rng.randint(2, 75) * DAY
        # after every row of the line exists: rows appear daily, or all at once when the invoice is created late
        last_row_created = max(line.end + 3 * HOUR, inv.created_at)
        revise_at = last_row_created + delay + self.rng.randint(0, 80_000)
        if revise_at >= self.cal.end_ts - 3 * HOUR:
            return
        line.revise_at = revise_at
        line.revise_from = self.rng.randrange(n_days)
        self._revised.append(line.id)

    # --- payments --------------------------------------------------------------------------------------

    def payments(self) -> None:
        for attempt in self.h.attempts:
            row = schema.make_row(
                "payment_attempt", id=attempt.id, created_at=attempt.at, updated_at=attempt.at + MINUTE,
                invoice_id=attempt.invoice.id, customer_id=self.cid, amount=self.micro(attempt.amount),
                currency=self.ccy, payment_provider="stripe", payment_provider_id=attempt.charge_id,
                succeeded=attempt.succeeded,
            )
            self.out.add("payment_attempt", row)
        for charge in self.h.charges:
            self.out.add("processor_payments", (
                charge.id, charge.amount_minor, charge.currency, charge.status, charge.created,
                json.dumps({"orb_invoice_id": charge.invoice_id, "orb_customer_id": charge.customer_id}),
                charge.fee_minor,
            ), batch=self.cal.batch_of(charge.created), at=charge.created)

    # --- credit notes ----------------------------------------------------------------------------------

    def credit_note(self, note: CreditNote) -> None:
        header = schema.make_row(
            "credit_note", id=note.id, created_at=note.created_at, updated_at=note.created_at + 2 * MINUTE,
            credit_note_number=note.number, invoice_id=note.invoice.id, customer_id=self.cid, type=note.type,
            reason=note.reason, subtotal=self.micro(note.subtotal), total=self.micro(note.total), memo=note.memo,
        )
        ended = note.voided_at or note.deleted_at
        final = None if ended is None else dict(voided_at=note.voided_at, deleted_at=note.deleted_at,
                                                updated_at=ended + MINUTE)
        if final is not None:
            self.out.add_versions("credit_note", header, schema.replace("credit_note", header, **final))
        else:
            self.out.add("credit_note", header)
        for line in note.lines:
            values = dict(
                credit_note_id=note.id, invoice_id=note.invoice.id, invoice_line_item_id=line.invoice_line_id,
                item_id=line.item_id, name=line.name, quantity=line.quantity, subtotal=self.micro(line.amount),
                amount=self.micro(line.amount), tax_amount=self.micro(line.tax), total=self.micro(line.total),
                start_date=line.start, end_date=line.end,
            )
            row = schema.make_row("credit_note_line_item", id=line.id, created_at=note.created_at,
                                  updated_at=note.created_at + 2 * MINUTE, **values)
            self.line_with_events("credit_note_line_item", row, final, "cnle", at=note.created_at, ended=ended,
                                  revert_voided_at=note.voided_at, credit_note_line_item_id=line.id, **values)

    # --- balance and ledger ----------------------------------------------------------------------------

    def balance_transactions(self) -> None:
        book = self.h.balance_book
        if book is None:
            return
        for tx in book.transactions:
            row = schema.make_row(
                "customer_balance_transaction", id=tx.id, created_at=tx.created_at, updated_at=tx.created_at + MINUTE,
                customer_id=self.cid, action=tx.action, type=tx.type, amount=self.micro(tx.amount),
                starting_balance=self.micro(tx.starting), ending_balance=self.micro(tx.ending), currency=self.ccy,
                invoice_id=tx.invoice_id, credit_note_id=tx.credit_note_id, description=tx.description,
            )
            if tx.deleted_at is not None:
                self.out.add_versions("customer_balance_transaction", row, schema.replace(
                    "customer_balance_transaction", row, deleted_at=tx.deleted_at, updated_at=tx.deleted_at + MINUTE))
            else:
                self.out.add("customer_balance_transaction", row)

    def ledger(self) -> None:
        for entry in self.h.ledger_entries:
            values = self._ledger_values(entry)
            row = schema.make_row("credit_ledger_entry", id=entry.id, created_at=entry.created_at,
                                  updated_at=entry.created_at + MINUTE, **values)
            if entry.reverted_at is not None:
                self.out.add_versions("credit_ledger_entry", row, schema.replace(
                    "credit_ledger_entry", row, reverted_at=entry.reverted_at, updated_at=entry.reverted_at + MINUTE))
            else:
                self.out.add("credit_ledger_entry", row)
            self._ledger_event(entry, values, entry.created_at, is_revert=False)
            if entry.reverted_at is not None:
                self._ledger_event(entry, values, entry.reverted_at, is_revert=True)

    def _ledger_values(self, entry: LedgerEntry) -> dict[str, object]:
        return dict(
            customer_id=self.cid, ledger_sequence_number=entry.seq, entry_type=entry.entry_type,
            entry_status="committed", currency=self.ccy, amount=entry.amount, starting_balance=entry.starting,
            ending_balance=entry.ending, credit_block_id=entry.block_id, credit_block_expiry_date=entry.block_expiry,
            cost_basis=entry.cost_basis, invoice_id=entry.invoice_id, price_id=entry.price_id,
            description=entry.description,
        )

    def _ledger_event(self, entry: LedgerEntry, values: dict[str, object], created: int, *, is_revert: bool) -> None:
        recognized_at = entry.created_at
        self.event_batch("credit_ledger_entry_event", schema.make_row(
            "credit_ledger_entry_event", id=self.ids.new("clee"), created_at=created, updated_at=created,
            credit_ledger_entry_id=entry.id, timestamp=recognized_at,
            lock_adjusted_timestamp=self.locks.adjust(recognized_at, created), is_revert=is_revert,
            recognized_revenue_amount=entry.recognized_revenue, invoicing_currency=self.ccy, **values))


def emit_customer(ctx: Context, history: CustomerHistory, out: Buffers) -> None:
    Emitter(ctx, history, out).emit()
