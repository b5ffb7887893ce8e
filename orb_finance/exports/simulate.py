"""One customer's history in the sample account, simulated month by month.

Owns the billing behaviour: the subscription (plan versions, price intervals, coupons and adjustments),
the monthly invoice dated the 1st (in-advance fixed fees for the coming month + in-arrears usage of the
month just ended), threshold (partial) invoices, credit purchases and grants drawn down by usage, the
account balance applied at issuance, payments (Stripe attempts and charges, or marked paid), credit notes,
voids with a re-issued invoice, and the upcoming draft. The result is a `CustomerHistory` that `emit`
turns into export rows. Everything is decided by a `random.Random` seeded from (seed, customer index).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Final

from . import money
from .balance import BalanceBook
from .calendar import DAY, HOUR, MINUTE, Calendar
from .catalog import CREDIT_COST_BASES, Catalog, Plan, Price
from .domain import Attempt, Charge, CreditNote, CreditNoteLine, Invoice, LedgerEntry, Line
from .ids import IdMaker, seeded_random
from .ledger import Block, CreditLedger
from .profiles import Profile, draw_profile, expected_monthly_usage

_REASONS: Final = ("duplicate", "order_change", "product_unsatisfactory", "fraudulent", "order_change", None)
_GRANT_UNITS: Final[dict[str, int]] = {"USD": 200, "EUR": 200, "JPY": 30_000}
_GOODWILL_UNITS: Final[dict[str, tuple[int, ...]]] = {"USD": (25, 50, 100), "EUR": (25, 50), "JPY": (3_000, 5_000)}
_SERVICE_CREDIT_MINOR: Final[dict[str, int]] = {"USD": 500, "EUR": 500, "JPY": 700}


@dataclass(frozen=True)
class Context:
    calendar: Calendar
    catalog: Catalog
    seed: int
    # a credit-note line naming an invoice line that is not in the export (dbt warns about it); off: such a line
    # names no invoice line (a credit of the invoice as a whole, prorated on the credit note's day)
    orphan_credit_note_lines: bool = False


@dataclass
class Adjustment:
    id: str
    ppm: int
    price_ids: frozenset[str]
    start: int
    end: int | None
    reason: str
    interval_id: str
    coupon_id: str | None = None
    redemption_id: str | None = None


@dataclass
class Version:
    id: str
    plan: Plan
    start: int
    end: int | None
    interval_ids: dict[str, str]     # price id -> price interval id


@dataclass
class Subscription:
    id: str
    created_at: int
    net_terms: int
    threshold: int | None            # micro-units of the invoicing currency
    versions: list[Version]
    adjustments: list[Adjustment]
    end: int | None                  # end instant, if the subscription ends


@dataclass
class CustomerHistory:
    profile: Profile
    customer_id: str
    created_at: int
    stripe_customer_id: str | None
    subscription: Subscription | None = None
    invoices: list[Invoice] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    credit_notes: list[CreditNote] = field(default_factory=list)
    ledger_entries: list[LedgerEntry] = field(default_factory=list)
    balance_book: BalanceBook | None = None


class CustomerSim:
    """Simulates customer `index`; `run()` returns its history."""

    def __init__(self, ctx: Context, index: int) -> None:
        self.ctx, self.cal, self.cat = ctx, ctx.calendar, ctx.catalog
        self.index = index
        self.rng = seeded_random(ctx.seed, index, 1)
        self.ids = IdMaker(seeded_random(ctx.seed, index, 2))
        # decisions added later draw from their own stream, so the earlier cases stay as they were for a seed
        self.rng_books = seeded_random(ctx.seed, index, 3)
        self.p = draw_profile(index, self.rng, self.cal, self.cat)
        self.ccy = self.p.currency
        self.step = money.micro_per_minor(self.ccy)
        self.latest = self.cal.end_ts - HOUR          # nothing of the business happens later than this
        start_ts = self.cal.month_start[self.p.start]
        created = start_ts - self.rng.randint(1, 20) * DAY - self.rng.randint(0, 80_000)
        self.h = CustomerHistory(self.p, self.ids.new("cus"), created,
                                 self.ids.new("cus", 14) if self.p.stripe else None)
        self.ledger = CreditLedger(self.ids.new, self.step)
        self.book = BalanceBook(self.ids.new)
        self.h.balance_book = self.book
        self._counters = {"line": 0, "invoice": 0, "cn": 0}
        self._flags: set[str] = set()
        self._blocks_by_invoice: dict[str, Block] = {}

    # --- orchestration ---------------------------------------------------------------------------------

    def run(self) -> CustomerHistory:
        if self.p.deleted:
            return self.h
        self.h.subscription = self._subscription()
        self._plan_credits()
        self._plan_grants()
        self._plan_balance()
        last = self.cal.months if self.p.end is None else self.p.end
        for k in range(self.p.start, last + 1):
            self._invoice_for(k)
        self._finish()
        return self.h

    def _finish(self) -> None:
        self.ledger.flush(self.latest)
        self._revert_a_decrement()
        self.h.ledger_entries = self.ledger.entries
        self.book.flush(self.latest)
        if self.p.has("deleted_balance"):
            last = max((tx.created_at for tx in self.book.transactions), default=self.cal.month_start[self.p.start])
            at = max(last + HOUR, self.cal.end_ts - 6 * DAY)
            tx = self.book.book_now(at, "manual_adjustment", "increment", 20 * self._unit_minor(),
                                    description="Goodwill credit (entered in error)")
            tx.deleted_at = at + 2 * HOUR
        if self.p.has("deleted_draft"):
            self._deleted_draft()
        if self.p.has("orphan_charge"):
            at = self.cal.month_start[max(self.p.start, self.cal.months - 2)] + 4 * DAY
            self.h.charges.append(self._charge(self.ids.new("inv"), 4_900 if self.ccy != "JPY" else 7_000, at,
                                               "succeeded"))

    def _unit_minor(self) -> int:
        """Minor units in one whole currency unit (100 for USD, 1 for JPY)."""
        return money.MICRO // self.step

    # --- subscription ----------------------------------------------------------------------------------

    def _subscription(self) -> Subscription:
        p, cal = self.p, self.cal
        start = cal.month_start[p.start]
        end = cal.month_start[p.end] if p.end is not None else None
        first_plan = self.cat.plan(self.ccy, p.tier)
        if p.upgrade_at is not None:
            change = cal.month_start[p.upgrade_at]
            spans = [(first_plan, start, change), (self.cat.plan(self.ccy, "growth"), change, end)]
        else:
            spans = [(first_plan, start, end)]
        versions = [Version(self.ids.new("sv"), plan, s, e, {pr.id: self.ids.new("pint") for pr in plan.prices})
                    for plan, s, e in spans]
        threshold = None
        if p.has("threshold"):
            expected = expected_monthly_usage(p, self.cat)
            threshold = max(100 * money.MICRO, expected * 55 // 100 // money.MICRO * money.MICRO)
        sub = Subscription(self.ids.new("sub"), self.h.created_at + 30 * MINUTE, first_plan.net_terms, threshold,
                           versions, [], end)
        if p.coupon is not None:
            real = frozenset(pr.id for pr in first_plan.prices if not pr.is_virtual)
            coupon_end = (cal.month_ts(p.start + p.coupon.duration_months)
                          if p.coupon.duration_months is not None else None)
            sub.adjustments.append(Adjustment(self.ids.new("adj"), p.coupon.percentage_ppm, real, start, coupon_end,
                                              f"Coupon {p.coupon.code}", self.ids.new("adji"), p.coupon.id,
                                              self.ids.new("cr")))
        if p.negotiated_ppm:
            usage = frozenset(pr.id for v in versions for pr in v.plan.prices if pr.is_usage and not pr.is_virtual)
            sub.adjustments.append(Adjustment(self.ids.new("adj"), p.negotiated_ppm, usage, start, None,
                                              "Negotiated usage discount", self.ids.new("adji")))
        return sub

    def _plan_at(self, ts: int) -> Plan:
        assert self.h.subscription is not None
        for version in self.h.subscription.versions:
            if version.start <= ts and (version.end is None or ts < version.end):
                return version.plan
        return self.h.subscription.versions[-1].plan

    def _discount_ppm(self, price: Price, at: int) -> int:
        assert self.h.subscription is not None
        return sum(a.ppm for a in self.h.subscription.adjustments
                   if price.id in a.price_ids and a.start <= at and (a.end is None or at < a.end))

    # --- credits ---------------------------------------------------------------------------------------

    def _plan_credits(self) -> None:
        p, cal = self.p, self.cal
        if not p.has("credits"):
            return
        expected = max(expected_monthly_usage(p, self.cat), 100 * money.MICRO)
        months = list(range(p.start, cal.months - 1, 6))
        for j, m in enumerate(months):
            early = j == 0 and p.has("early_expiry")
            lot = 100 * money.MICRO if self.ccy != "JPY" else 10_000 * money.MICRO
            credits = (expected * (6 if early else 4) // lot + 1) * lot
            cost_basis = CREDIT_COST_BASES[2] if self.rng.random() < 0.1 else self.rng.choice(CREDIT_COST_BASES[:2])
            expiry_month = m + (max(2, min(4, (cal.months - m) // 2)) if early else 12)
            at = cal.month_start[m] + 2 * DAY + 10 * HOUR + self.rng.randint(0, 3_600)
            invoice = self._credit_purchase_invoice(at, credits, cost_basis)
            expiry = cal.month_ts(expiry_month)
            self.ledger.schedule(at + MINUTE, lambda t, c=credits, b=cost_basis, e=expiry, i=invoice.id:
                                 self._add_purchased_block(t, c, b, e, i))
            if p.has("expiration_change") and j == len(months) - 1 and not early:
                change_at = min(at + 35 * DAY, expiry - 10 * DAY)
                if change_at < self.latest:
                    self.ledger.schedule(change_at, lambda t, i=invoice.id, e=expiry:
                                         self.ledger.change_expiry(t, self._blocks_by_invoice[i],
                                                                   e + 90 * DAY))

    def _add_purchased_block(self, at: int, credits: int, cost_basis: int, expiry: int, invoice_id: str) -> None:
        block = self.ledger.add_block(at, credits, cost_basis, expiry, invoice_id, "Prepaid credits purchase")
        self._blocks_by_invoice[invoice_id] = block

    def _credit_purchase_invoice(self, at: int, credits: int, cost_basis: int) -> Invoice:
        price = self.cat.credit_prices[(self.ccy, cost_basis)]
        day = at // DAY * DAY
        invoice = self._new_invoice("one_off", None, day, at - 10 * MINUTE)
        invoice.credit_purchase = True
        invoice.memo = "Prepaid credits"
        subtotal = money.multiply_micro(credits, cost_basis)
        rounded = money.micro_to_minor_exact(subtotal, self.ccy)
        invoice.lines.append(self._line(price, "Prepaid credits", day, day + DAY, credits, subtotal, subtotal, 0, 0,
                                        subtotal, rounded, even=True))
        self._issue(invoice, at, apply_balance=False, may_void=False, may_credit=False, must_pay=True)
        return invoice

    def _plan_grants(self) -> None:
        p, cal = self.p, self.cal
        if not p.has("grant"):
            return
        units = _GRANT_UNITS[self.ccy] * money.MICRO
        m = p.start
        expiry = cal.month_ts(m + 3)
        at = cal.month_start[m] + DAY + 9 * HOUR
        self.ledger.schedule(at, lambda t: self.ledger.add_block(t, units, None, expiry, None, "Promotional credits"))
        if p.has("grant_void"):
            holder: dict[str, Block] = {}
            self.ledger.schedule(at + 2 * DAY, lambda t: holder.setdefault("b", self.ledger.add_block(
                t, units // 2, None, expiry, None, "Trial credits")))
            self.ledger.schedule(at + 20 * DAY, lambda t: self.ledger.void(t, holder["b"]))

    def _revert_a_decrement(self) -> None:
        if not self.p.has("ledger_revert"):
            return
        for entry in self.ledger.entries:
            if entry.entry_type == "decrement" and entry.created_at < self.cal.end_ts - 45 * DAY:
                entry.reverted_at = entry.created_at + self.rng.randint(20, 40) * DAY + self.rng.randint(0, 50_000)
                self.ledger.entries.append(dataclasses.replace(
                    entry, id=self.ids.new("cle"), created_at=entry.reverted_at, reverted_at=None, replaces=entry.id,
                    description="Usage drawdown (re-computed)"))
                return

    # --- customer balance ------------------------------------------------------------------------------

    def _plan_balance(self) -> None:
        p, cal = self.p, self.cal
        first = cal.month_start[p.start] + 5 * DAY
        last = cal.end_ts - 15 * DAY
        if p.has("goodwill") and last > first:
            at = self.rng.randint(first, last)
            units = self.rng.choice(_GOODWILL_UNITS[self.ccy])
            self.book.schedule(at, "manual_adjustment", "increment", units * self._unit_minor(),
                               description="Goodwill credit for an outage")
        if p.has("carryover") and p.start + 2 <= cal.months - 1:
            self._small_invoice(cal.month_start[p.start + 1] + 9 * DAY + 11 * HOUR)

    def _small_invoice(self, at: int) -> None:
        """A one-off invoice under the processor minimum: marked paid and carried to the balance."""
        price = self.cat.service_prices[self.ccy]
        day = at // DAY * DAY
        invoice = self._new_invoice("one_off", None, day, at - 5 * MINUTE)
        invoice.memo = "Below the minimum charge: carried over to the account balance"
        minor = self.rng.randint(31, 44)
        amount = minor * self.step
        invoice.lines.append(self._line(price, "Usage true-up", day, day + DAY, money.MICRO, amount, amount, 0, 0,
                                        amount, minor, even=True))
        invoice.issued_at = at
        invoice.due_date = day
        invoice.status = "paid"
        invoice.paid_at = at + MINUTE
        self.h.invoices.append(invoice)
        self.book.schedule(at + 2 * MINUTE, "small_invoice_carryover", "decrement", invoice.total,
                           invoice_id=invoice.id, description="Small invoice carried over to the next invoice")

    # --- invoices --------------------------------------------------------------------------------------

    def _new_invoice(self, source: str, subscription_id: str | None, invoice_date: int, created_at: int) -> Invoice:
        self._counters["invoice"] += 1
        return Invoice(self.ids.new("inv"), f"INV-{self.index:06d}-{self._counters['invoice']:04d}", source,
                       subscription_id, invoice_date, created_at)

    def _line(self, price: Price, name: str, start: int, end: int, quantity: int, subtotal: int, adjusted: int,
              credits: int, pia: int, amount: int, rounded: int, *, even: bool) -> Line:
        self._counters["line"] += 1
        return Line(self.ids.new("ili"), price, name, start, end, quantity, subtotal, adjusted, credits, pia, amount,
                    rounded, money.tax_minor(rounded, self.p.tax_bp), even, key=(self.index << 20) | self._counters["line"])

    def _priced(self, price: Price, units: int, start: int, end: int, *, even: bool) -> Line:
        """A line for `units` of `price` (before credits and partial invoices)."""
        quantity = units * money.MICRO // price.quantity_scale
        subtotal = units * price.unit_amount
        if subtotal % price.quantity_scale:
            raise ValueError("unit price does not divide the quantity scale")
        subtotal //= price.quantity_scale
        ppm = 0 if price.is_virtual else self._discount_ppm(price, start)
        adjusted = subtotal - money.div_half_away(subtotal * ppm, money.MICRO)
        line = self._line(price, price.name, start, end, quantity, subtotal, adjusted, 0, 0, 0, 0, even=even)
        self._settle_ladder(line)
        return line

    def _settle_ladder(self, line: Line) -> None:
        """amount = (adjusted_subtotal - credits_applied) x conversion_rate - partially_invoiced_amount."""
        converted = money.multiply_micro(line.adjusted_subtotal - line.credits_applied, line.price.conversion_rate)
        line.amount = converted - line.partially_invoiced_amount
        if line.amount < 0:
            raise ValueError(f"negative line amount {line.amount}")
        line.rounded = money.round_to_minor(line.amount, self.ccy)
        line.tax = money.tax_minor(line.rounded, self.p.tax_bp)

    def _units(self, kind: str, month: int) -> int:
        base = self.p.usage_base[kind]
        age = month - self.p.start
        factor = 100 + self.p.usage_growth_pct * age + self.rng.randint(-20, 20)
        return max(0, base * max(factor, 5) // 100)

    def _invoice_for(self, k: int) -> None:
        """The subscription invoice dated month_start[k]."""
        cal, p = self.cal, self.p
        sub = self.h.subscription
        assert sub is not None
        date = cal.month_start[k]
        created = (cal.month_start[k - 1] if k > p.start else date) + 5 * MINUTE
        invoice = self._new_invoice("subscription", sub.id, date, created)
        if k > p.start:
            invoice.lines.extend(self._usage_lines(k - 1, invoice))
        if p.end is None or k < p.end:
            invoice.lines.extend(self._fixed_lines(k))
        if k == cal.months:
            invoice.status = "draft"
            self.h.invoices.append(invoice)
            return
        issue_at = date + (10 * MINUTE if k == p.start else 13 * HOUR + self.rng.randint(0, 7_200))
        self._issue(invoice, issue_at)

    def _fixed_lines(self, k: int) -> list[Line]:
        start, end = self.cal.month_ts(k), self.cal.month_ts(k + 1)
        plan = self._plan_at(start)
        return [self._priced(price, self.p.seats if price.kind == "seats" else 1, start, end, even=True)
                for price in plan.prices if not price.is_usage]

    def _usage_lines(self, m: int, invoice: Invoice) -> list[Line]:
        start, end = self.cal.month_start[m], self.cal.month_start[m + 1]
        plan = self._plan_at(start)
        units = [(price, self._units(price.kind, m)) for price in plan.prices if price.is_usage]
        lines = [self._priced(price, u, start, end, even=False) for price, u in units]
        if self.h.subscription is not None and self.h.subscription.threshold is not None:
            self._threshold_invoice(m, units, lines)
        consume_at = end - HOUR
        for line in lines:
            if line.price.is_virtual or not self.ledger.has_credits():
                continue
            need = money.floor_to_minor_micro(line.adjusted_subtotal, self.ccy)
            applied, drawn = self.ledger.consume(consume_at, need, invoice.id, line.price.id)
            if applied:
                line.credits_applied = applied
                self._settle_ladder(line)
                self._maybe_amend(drawn)
        return lines

    def _maybe_amend(self, drawn: list[LedgerEntry]) -> None:
        if not self.p.has("amendment") or "amended" in self._flags or not drawn:
            return
        self._flags.add("amended")
        entry = drawn[0]
        at = entry.created_at + 3 * DAY + 5 * HOUR
        if at < self.latest:
            self.ledger.schedule(at, lambda t: self.ledger.amend(t, entry, 10))

    def _threshold_invoice(self, m: int, units: list[tuple[Price, int]], lines: list[Line]) -> None:
        """A partial invoice mid-month once usage crosses the threshold; later lines subtract what it billed."""
        sub = self.h.subscription
        assert sub is not None and sub.threshold is not None
        start = self.cal.month_start[m]
        n_days = self.cal.month_days(m)
        usage = sum(money.multiply_micro(line.adjusted_subtotal, line.price.conversion_rate) for line in lines)
        if usage <= sub.threshold or n_days < 2:
            return
        crossing = min(n_days - 1, max(1, -(-n_days * sub.threshold // usage)))
        date = start + crossing * DAY
        partial = self._new_invoice("partial", sub.id, date, date + 2 * HOUR)
        partial.memo = "Threshold invoice"
        for (price, u), line in zip(units, lines):
            early = self._priced(price, u * crossing // n_days, start, date, even=False)
            partial.lines.append(early)
            line.partially_invoiced_amount = early.rounded * self.step
            self._settle_ladder(line)
        self._issue(partial, date + 2 * HOUR + 5 * MINUTE, apply_balance=False, may_void=False)

    def _issue(self, invoice: Invoice, at: int, *, apply_balance: bool = True, may_void: bool = True,
               may_credit: bool = True, must_pay: bool = False) -> None:
        invoice.issued_at = at
        invoice.due_date = invoice.invoice_date + (self.h.subscription.net_terms if self.h.subscription else 30) * DAY
        if may_void and self._should_void(invoice):
            self._void_and_reissue(invoice)
            return
        if apply_balance:
            self.book.apply_to(invoice, at)
        self._collect(invoice, must_pay)
        if may_credit:
            self._maybe_adjust_before_payment(invoice)
            self._maybe_credit_notes(invoice)
        self.h.invoices.append(invoice)

    def _maybe_adjust_before_payment(self, invoice: Invoice) -> None:
        """An adjustment credit note on an invoice not yet paid, then paid for what it still owed: Orb marks it paid
        (no payment attempt) once the reduced amount came in."""
        if (invoice.status != "paid" or invoice.paid_at is None or invoice.issued_at is None or invoice.credit_purchase
                or any(a.invoice is invoice for a in self.h.attempts) or self.rng_books.random() >= 0.05):
            return
        days = (invoice.paid_at - invoice.issued_at) // DAY
        if days < 3:
            return
        at = invoice.issued_at + self.rng_books.randint(1, days - 1) * DAY + self.rng_books.randint(0, 40_000)
        self._credit_note(invoice, "adjustment", at, to_balance=False, max_total=invoice.amount_due)

    def _should_void(self, invoice: Invoice) -> bool:
        if invoice.source != "subscription" or invoice.issued_at is None:
            return False
        if any(line.credits_applied or line.partially_invoiced_amount for line in invoice.lines):
            return False
        if invoice.issued_at + 25 * DAY > self.cal.end_ts - 3 * DAY:
            return False
        if self.p.has("void") and "voided" not in self._flags:
            self._flags.add("voided")
            return True
        return self.rng.random() < 0.008

    def _void_and_reissue(self, invoice: Invoice) -> None:
        assert invoice.issued_at is not None
        invoice.status = "void"
        invoice.voided_at = invoice.issued_at + self.rng.randint(2, 20) * DAY + self.rng.randint(0, 20_000)
        invoice.memo = "Voided: wrong seat count"
        self.h.invoices.append(invoice)
        again = self._new_invoice(invoice.source, invoice.subscription_id, invoice.invoice_date,
                                  invoice.voided_at + 30 * MINUTE)
        again.replaces = invoice.id
        again.memo = f"Re-issue of voided invoice {invoice.number}"
        for line in invoice.lines:
            self._counters["line"] += 1
            again.lines.append(dataclasses.replace(line, id=self.ids.new("ili"),
                                                   key=(self.index << 20) | self._counters["line"]))
        self._issue(again, again.created_at + 10 * MINUTE, apply_balance=False, may_void=False)

    # --- payments --------------------------------------------------------------------------------------

    def _collect(self, invoice: Invoice, must_pay: bool) -> None:
        """Decide whether and how the invoice is paid (Stripe auto-collection, or marked paid)."""
        assert invoice.issued_at is not None and invoice.due_date is not None
        if invoice.amount_due <= 0:
            self._mark_paid(invoice, invoice.issued_at + MINUTE)
            return
        never = not must_pay and self._never_paid(invoice)
        if self.p.stripe:
            self._stripe(invoice, never)
            return
        if never:
            return
        delay = self.rng.randint(2, (self.h.subscription.net_terms if self.h.subscription else 30) + 12) * DAY
        if self.p.has("slow"):
            delay += self.rng.randint(20, 110) * DAY
        self._mark_paid(invoice, invoice.issued_at + delay + self.rng.randint(0, 40_000))

    def _never_paid(self, invoice: Invoice) -> bool:
        if self.p.has("unpaid_tail") and invoice.source == "subscription":
            if self.cal.month_of(invoice.invoice_date) >= self.cal.months - 4:
                return True
        return self.rng.random() < (0.3 if self.p.has("slow") else 0.015)

    def _mark_paid(self, invoice: Invoice, at: int) -> None:
        if at < self.latest:
            invoice.status = "paid"
            invoice.paid_at = at

    def _stripe(self, invoice: Invoice, never: bool) -> None:
        assert invoice.issued_at is not None and invoice.due_date is not None
        at = max(invoice.issued_at + 5 * MINUTE, invoice.due_date + 2 * HOUR + self.rng.randint(0, 3_600))
        fail_first = never or self.rng.random() < 0.06
        if self.p.has("failed_first") and "failed" not in self._flags:
            self._flags.add("failed")
            fail_first = True
        if fail_first and at < self.latest:
            self._attempt(invoice, at, succeeded=False)
            at += 2 * DAY + self.rng.randint(0, 3_600)
        if never or at >= self.latest:
            return
        attempt = self._attempt(invoice, at, succeeded=True)
        invoice.status = "paid"
        invoice.paid_at = at + 30
        invoice.charge_id = attempt.charge_id

    def _attempt(self, invoice: Invoice, at: int, *, succeeded: bool) -> Attempt:
        attempt = Attempt(self.ids.new("pa"), invoice, at, invoice.amount_due, succeeded, self.ids.charge())
        self.h.attempts.append(attempt)
        amount = invoice.amount_due
        if succeeded and self.p.has("mismatch_amount") and "mismatch" not in self._flags:
            self._flags.add("mismatch")
            amount += self.rng.randint(1, 9)
        if succeeded and self.p.has("missing_charge") and "missing" not in self._flags:
            self._flags.add("missing")
            return attempt
        self.h.charges.append(self._charge(invoice.id, amount, at, "succeeded" if succeeded else "failed",
                                           charge_id=attempt.charge_id))
        if succeeded and self.p.has("refunded_charge") and "refunded" not in self._flags:
            self._flags.add("refunded")      # a duplicate charge, refunded
            self.h.charges.append(self._charge(invoice.id, amount, at - 10 * MINUTE, "refunded"))
        return attempt

    def _charge(self, invoice_id: str, amount_minor: int, at: int, status: str, *, charge_id: str | None = None) -> Charge:
        if self.ccy == "JPY":
            fee = money.div_half_away(amount_minor * 36, 1_000)
        else:
            fee = money.div_half_away(amount_minor * 29, 1_000) + 30
        return Charge(charge_id or self.ids.charge(), amount_minor, self.ccy.lower(), status, at, invoice_id,
                      self.h.customer_id, fee if status != "failed" else 0)

    # --- credit notes ----------------------------------------------------------------------------------

    def _maybe_credit_notes(self, invoice: Invoice) -> None:
        if invoice.credit_purchase or not any(line.rounded > 0 for line in invoice.lines):
            return
        paid = invoice.status == "paid"
        if self.p.has("cn_suite") and invoice.source == "subscription" and self._credit_note_suite(invoice, paid):
            return
        wanted = self.rng.random() < 0.025
        if self.p.has("refund_cn") and paid and "refund" not in self._flags:
            self._flags.add("refund")
            wanted = True
        if not wanted:
            return
        if paid:
            assert invoice.paid_at is not None
            at = invoice.paid_at + self.rng.randint(3, 100) * DAY + self.rng.randint(0, 80_000)
            if at < self.cal.end_ts - DAY:
                # a note on a paid invoice goes to the customer's balance, a refund or an adjustment alike
                kind = "adjustment" if self.rng_books.random() < 0.3 else "refund"
                self._credit_note(invoice, kind, at, to_balance=True)
            return
        assert invoice.issued_at is not None
        at = invoice.issued_at + self.rng.randint(2, 60) * DAY + self.rng.randint(0, 80_000)
        if at >= self.cal.end_ts - DAY:
            return
        roll = self.rng.random()
        void_at = at + self.rng.randint(1, 20) * DAY if roll < 0.1 else None
        delete_at = at + self.rng.randint(1, 10) * DAY if 0.1 <= roll < 0.15 else None
        void_at = void_at if void_at is not None and void_at < self.latest else None
        delete_at = delete_at if delete_at is not None and delete_at < self.latest else None
        self._credit_note(invoice, "adjustment", at, void_at=void_at, delete_at=delete_at)

    def _credit_note_suite(self, invoice: Invoice, paid: bool) -> bool:
        """Every kind of credit note, on this customer's first paid and first two unpaid invoices."""
        assert invoice.issued_at is not None
        if paid and "suite_refund" not in self._flags:
            assert invoice.paid_at is not None
            at = invoice.paid_at + 70 * DAY
            if at < self.cal.end_ts - DAY:
                self._flags.add("suite_refund")
                self._credit_note(invoice, "refund", at, own_period=True)
                return True
        if paid:
            return False
        at = invoice.issued_at + 5 * DAY
        if at >= self.cal.end_ts - 3 * DAY:
            return False
        if "suite_a" not in self._flags:
            self._flags.add("suite_a")
            self._credit_note(invoice, "adjustment", at, own_period=True)
            self._credit_note(invoice, "adjustment", at + HOUR, delete_at=at + 2 * DAY, own_period=False)
            return True
        if "suite_b" not in self._flags:
            self._flags.add("suite_b")
            self._credit_note(invoice, "adjustment", at, void_at=at + DAY, own_period=False)
            self._credit_note(invoice, "adjustment", at + HOUR, own_period=False, unknown_line=True)
            return True
        return False

    def _credit_note(self, invoice: Invoice, type_: str, at: int, *, void_at: int | None = None,
                     delete_at: int | None = None, own_period: bool | None = None, unknown_line: bool = False,
                     to_balance: bool | None = None, max_total: int | None = None) -> None:
        """A credit note; `to_balance` (default: a refund) puts its total in the customer's balance
        (credit_note_applied), as Orb does for a note on a paid invoice; `max_total` leaves out a note larger."""
        self._counters["cn"] += 1
        note = CreditNote(self.ids.new("cn"), f"CN-{self.index:06d}-{self._counters['cn']:03d}", invoice, type_,
                          self.rng.choice(_REASONS), at, voided_at=void_at, deleted_at=delete_at)
        note.memo = "Refund for unused service" if type_ == "refund" else "Billing adjustment"
        candidates = [line for line in invoice.lines if line.rounded > 0]
        max_pct = 100 if type_ == "refund" else 50
        for line in self.rng.sample(candidates, min(len(candidates), self.rng.choice((1, 1, 2)))):
            pct = self.rng.choice([x for x in (10, 25, 50, 100) if x <= max_pct])
            amount = line.rounded * pct // 100
            if amount <= 0:
                continue
            own = own_period if own_period is not None else self.rng.random() < 0.4
            start = end = None
            if own:
                n_days = max(1, (line.end - line.start) // DAY)
                start, end = line.start + self.rng.randrange(n_days) * DAY, line.end
            note.lines.append(CreditNoteLine(self.ids.new("cnli"), line.id, line.price.item_id, line.name,
                                             line.quantity * pct // 100, amount,
                                             money.tax_minor(amount, self.p.tax_bp), start, end))
        if unknown_line:
            amount = _SERVICE_CREDIT_MINOR[self.ccy]
            line_id, unknown_id = self.ids.new("cnli"), self.ids.new("ili")    # both drawn: the same ids after it
            note.lines.append(CreditNoteLine(line_id, unknown_id if self.ctx.orphan_credit_note_lines else None,
                                             self.cat.items["platform"].id, "Service credit", money.MICRO, amount,
                                             money.tax_minor(amount, self.p.tax_bp), None, None))
        if not note.lines or (max_total is not None and note.total > max_total):
            return
        self.h.credit_notes.append(note)
        if (type_ == "refund" if to_balance is None else to_balance) and void_at is None and delete_at is None:
            self.book.schedule(at + MINUTE, "credit_note_applied", "increment", note.total, invoice_id=invoice.id,
                               credit_note_id=note.id, description=f"Refund credit note {note.number}")

    # --- odds and ends ---------------------------------------------------------------------------------

    def _deleted_draft(self) -> None:
        first = self.cal.month_start[self.p.start] + 2 * DAY
        last = self.cal.end_ts - 5 * DAY
        if last <= first:
            return
        at = self.rng.randint(first, last)
        invoice = self._new_invoice("one_off", None, at // DAY * DAY, at)
        invoice.status = "draft"
        invoice.deleted_at = at + DAY
        invoice.memo = "Draft created by mistake"
        invoice.total_override = self.rng.randint(50, 500) * self._unit_minor()
        self.h.invoices.append(invoice)


def simulate_customer(ctx: Context, index: int) -> CustomerHistory:
    return CustomerSim(ctx, index).run()
