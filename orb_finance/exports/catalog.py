"""The account-wide objects of the sample: items, billable metrics, plans, prices, coupons, period locks.

Everything here depends only on the seed and the calendar (never on the customers), so every chunk of
customers sees the same catalog. Prices are integer micro-units; fixed fees are whole currency units.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Final

from . import money, schema
from .buffers import Buffers
from .calendar import DAY, HOUR, MINUTE, Calendar, LockBook, PeriodLock
from .ids import IdMaker, seeded_random

CURRENCIES: Final = ("USD", "EUR", "JPY")
TIERS: Final = ("starter", "growth", "enterprise")
VIRTUAL_UNIT: Final = "CU"  # custom pricing unit ("compute units") of the data-transfer price
# micro-units of the invoicing currency per compute unit
CU_RATE: Final[dict[str, int]] = {"USD": 250_000, "EUR": 230_000, "JPY": 38_000_000}
CREDIT_COST_BASES: Final = (900_000, 850_000, 1_000_000)  # per-credit cost basis, micro-units
NET_TERMS: Final[dict[str, int]] = {"starter": 15, "growth": 30, "enterprise": 45}


@dataclass(frozen=True)
class Item:
    id: str
    name: str


@dataclass(frozen=True)
class Price:
    id: str
    plan_id: str | None
    item_id: str
    metric_id: str | None
    name: str
    kind: str                # platform | seats | api | compute | transfer | credits | services
    currency: str            # pricing currency (the plan's, or the virtual unit)
    invoicing_currency: str
    billing_mode: str        # in_advance | in_arrear
    unit_amount: int         # micro-units of the pricing currency
    conversion_rate: int     # micro-units of invoicing currency per pricing unit
    quantity_scale: int = 1  # usage quantities are counted in 1/quantity_scale units (compute: tenths)

    @property
    def is_usage(self) -> bool:
        return self.billing_mode == "in_arrear"

    @property
    def is_virtual(self) -> bool:
        return self.currency != self.invoicing_currency


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    tier: str
    currency: str
    net_terms: int
    prices: tuple[Price, ...]


@dataclass(frozen=True)
class Coupon:
    id: str
    code: str
    percentage_ppm: int          # fraction off in millionths
    duration_months: int | None


@dataclass
class Catalog:
    calendar: Calendar
    items: dict[str, Item] = field(default_factory=dict)
    plans: dict[tuple[str, str], Plan] = field(default_factory=dict)
    credit_prices: dict[tuple[str, int], Price] = field(default_factory=dict)
    service_prices: dict[str, Price] = field(default_factory=dict)
    coupons: list[Coupon] = field(default_factory=list)
    locks: list[PeriodLock] = field(default_factory=list)
    lock_book: LockBook = field(default_factory=lambda: LockBook([]))

    def plan(self, currency: str, tier: str) -> Plan:
        return self.plans[(currency, tier)]


_ITEMS: Final = (
    ("platform", "Platform fee"), ("seats", "Seats"), ("api", "API requests"), ("compute", "Compute hours"),
    ("transfer", "Data transfer"), ("credits", "Prepaid credits"), ("services", "Professional services"),
    ("support", "Premium support"), ("legacy", "Legacy add-on"),
)
_METRICS: Final = (
    ("api", "api_requests", "Count of API requests"), ("compute", "compute_hours", "Sum of compute hours"),
    ("transfer", "data_transfer_gb", "Sum of GB transferred"), ("legacy", "legacy_events", "Deprecated event count"),
)
# USD list prices, micro-units: fixed fees per month (in advance), usage per unit (in arrears).
_USD_FEES: Final[dict[str, dict[str, int]]] = {
    "starter": {"platform": 49_000_000, "api": 200},
    "growth": {"platform": 499_000_000, "api": 150, "compute": 85_000},
    "enterprise": {"platform": 2_500_000_000, "seats": 20_000_000, "api": 100, "compute": 70_000, "transfer": 40_000},
}
_PRICE_NAMES: Final = {
    "platform": "Platform fee", "seats": "Seats", "api": "API requests", "compute": "Compute hours",
    "transfer": "Data transfer",
}


def build_catalog(calendar: Calendar, seed: int, out: Buffers) -> Catalog:
    """The catalog for (seed, calendar); its rows are added to `out` (written once, part 0)."""
    rng = seeded_random(seed, 0xCA7A)
    ids = IdMaker(seeded_random(seed, 0x1D5))
    catalog = Catalog(calendar=calendar)
    born = calendar.month_start[0] - 120 * DAY
    item_ids = _emit_items(catalog, ids, born, out)
    metric_ids = _emit_metrics(ids, item_ids, born, out)
    _emit_plans(catalog, ids, item_ids, metric_ids, born, out)
    _emit_one_off_prices(catalog, ids, item_ids, born, out)
    _emit_coupons(catalog, ids, born, out)
    catalog.locks = _emit_locks(calendar, ids, rng, out)
    catalog.lock_book = LockBook(catalog.locks)
    return catalog


def _emit_items(catalog: Catalog, ids: IdMaker, born: int, out: Buffers) -> dict[str, str]:
    item_ids: dict[str, str] = {}
    for n, (key, name) in enumerate(_ITEMS):
        item_id = ids.new("item")
        item_ids[key] = item_id
        catalog.items[key] = Item(item_id, name)
        connections = [{"external_connection_name": "stripe", "external_entity_id": ids.new("prod", 14)}]
        if n % 2 == 0:
            connections.append({"external_connection_name": "quickbooks", "external_entity_id": str(100 + n)})
        if n % 3 == 0:
            connections.append({"external_connection_name": "netsuite", "external_entity_id": f"ITEM-{4000 + n}"})
        created = born + n * HOUR
        row = schema.make_row(
            "item", id=item_id, created_at=created, updated_at=created + MINUTE, name=name,
            external_connections=json.dumps(connections),
        )
        if key == "support":      # archived, kept
            row = schema.replace("item", row, archived_at=created + 30 * DAY, updated_at=created + 30 * DAY)
        if key == "legacy":       # deleted: first delivered alive, then with deleted_at
            deleted = schema.replace("item", row, deleted_at=created + 40 * DAY, updated_at=created + 40 * DAY)
            out.add_versions("item", row, deleted)
            continue
        out.add("item", row)
    return item_ids


def _emit_metrics(ids: IdMaker, item_ids: dict[str, str], born: int, out: Buffers) -> dict[str, str]:
    metric_ids: dict[str, str] = {}
    for n, (key, name, description) in enumerate(_METRICS):
        metric_id = ids.new("bm")
        metric_ids[key] = metric_id
        created = born + DAY + n * HOUR
        out.add("billable_metric", schema.make_row(
            "billable_metric", id=metric_id, created_at=created, updated_at=created + MINUTE, name=name,
            description=description, item_id=item_ids[key], status="archived" if key == "legacy" else "active",
        ))
    return metric_ids


def _scale_unit(usd_micro: int, currency: str, step: int) -> int:
    """A USD unit price in `currency`, rounded to a multiple of `step` micro-units."""
    num, den = money.PRICE_LEVEL[currency]
    return max(step, money.div_half_away(usd_micro * num, den * step) * step)


def _scale_fee(usd_micro: int, currency: str) -> int:
    """A USD fixed fee in `currency`, in whole currency units."""
    num, den = money.PRICE_LEVEL[currency]
    return money.div_half_away(usd_micro * num, den * money.MICRO) * money.MICRO


def _emit_plans(catalog: Catalog, ids: IdMaker, item_ids: dict[str, str], metric_ids: dict[str, str], born: int,
                out: Buffers) -> None:
    for c_index, currency in enumerate(CURRENCIES):
        for t_index, tier in enumerate(TIERS):
            plan_id = ids.new("plan")
            created = born + 2 * DAY + (c_index * 3 + t_index) * HOUR
            prices = tuple(
                _make_plan_price(ids, plan_id, kind, usd, currency, item_ids, metric_ids)
                for kind, usd in _USD_FEES[tier].items()
            )
            plan = Plan(plan_id, f"{tier.title()} ({currency})", tier, currency, NET_TERMS[tier], prices)
            catalog.plans[(currency, tier)] = plan
            out.add("plan", schema.make_row(
                "plan", id=plan_id, created_at=created, updated_at=created + MINUTE, name=plan.name,
                currency=currency, net_terms=plan.net_terms, status="active",
                external_plan_id=f"{tier}-{currency.lower()}-v1",
            ))
            for price in prices:
                _add_price(out, price, created)
    # An archived plan nobody is on, and a deleted draft plan.
    for status in ("archived", "draft"):
        plan_id = ids.new("plan")
        created = born + 3 * DAY
        row = schema.make_row(
            "plan", id=plan_id, created_at=created, updated_at=created + MINUTE, name=f"Legacy {status} (USD)",
            currency="USD", net_terms=30, status=status, external_plan_id=None,
        )
        if status == "draft":
            out.add_versions("plan", row, schema.replace("plan", row, deleted_at=created + DAY,
                                                          updated_at=created + DAY))
        else:
            out.add("plan", row)


def _make_plan_price(ids: IdMaker, plan_id: str, kind: str, usd: int, currency: str, item_ids: dict[str, str],
                     metric_ids: dict[str, str]) -> Price:
    if kind in ("platform", "seats"):
        return Price(ids.new("price"), plan_id, item_ids[kind], None, _PRICE_NAMES[kind], kind, currency, currency,
                     "in_advance", _scale_fee(usd, currency), money.MICRO)
    if kind == "transfer":
        return Price(ids.new("price"), plan_id, item_ids[kind], metric_ids[kind], _PRICE_NAMES[kind], kind,
                     VIRTUAL_UNIT, currency, "in_arrear", usd, CU_RATE[currency])
    scale = 10 if kind == "compute" else 1
    unit = _scale_unit(usd, currency, 10 if kind == "compute" else 1)
    return Price(ids.new("price"), plan_id, item_ids[kind], metric_ids[kind], _PRICE_NAMES[kind], kind, currency,
                 currency, "in_arrear", unit, money.MICRO, quantity_scale=scale)


def _add_price(out: Buffers, price: Price, created: int) -> None:
    out.add("price", schema.make_row(
        "price", id=price.id, created_at=created, updated_at=created + MINUTE, plan_id=price.plan_id,
        item_id=price.item_id, billable_metric_id=price.metric_id, name=price.name, currency=price.currency,
        cadence="one_time" if price.plan_id is None else "monthly", billing_mode=price.billing_mode,
        price_type="usage_price" if price.is_usage else "fixed_price", unit_amount=price.unit_amount,
        conversion_rate=price.conversion_rate,
    ))


def _emit_one_off_prices(catalog: Catalog, ids: IdMaker, item_ids: dict[str, str], born: int, out: Buffers) -> None:
    created = born + 4 * DAY
    for currency in CURRENCIES:
        for cost_basis in CREDIT_COST_BASES:
            price = Price(ids.new("price"), None, item_ids["credits"], None, "Prepaid credits", "credits", currency,
                          currency, "in_advance", cost_basis, money.MICRO)
            catalog.credit_prices[(currency, cost_basis)] = price
            _add_price(out, price, created)
        price = Price(ids.new("price"), None, item_ids["services"], None, "Usage true-up", "services", currency,
                      currency, "in_advance", money.MICRO, money.MICRO)
        catalog.service_prices[currency] = price
        _add_price(out, price, created)


_COUPONS: Final = (("WELCOME10", 100_000, 3), ("LAUNCH20", 200_000, 6), ("LOYAL15", 150_000, None))


def _emit_coupons(catalog: Catalog, ids: IdMaker, born: int, out: Buffers) -> None:
    created = born + 5 * DAY
    for code, ppm, months in _COUPONS:
        coupon = Coupon(ids.new("cpn"), code, ppm, months)
        catalog.coupons.append(coupon)
        out.add("coupon", schema.make_row(
            "coupon", id=coupon.id, created_at=created, updated_at=created + MINUTE, redemption_code=code,
            discount_type="percentage", percentage_discount=ppm, amount_discount=None, duration_in_months=months,
            max_redemptions=None,
        ))
    # An archived amount coupon never redeemed, and a deleted test coupon.
    out.add("coupon", schema.make_row(
        "coupon", id=ids.new("cpn"), created_at=created, updated_at=created + 60 * DAY, redemption_code="SAVE50",
        discount_type="amount", percentage_discount=None, amount_discount=50 * money.MICRO, duration_in_months=1,
        max_redemptions=100, archived_at=created + 60 * DAY,
    ))
    test = schema.make_row(
        "coupon", id=ids.new("cpn"), created_at=created, updated_at=created + MINUTE, redemption_code="TEST100",
        discount_type="percentage", percentage_discount=money.MICRO, amount_discount=None, duration_in_months=1,
        max_redemptions=1,
    )
    out.add_versions("coupon", test, schema.replace("coupon", test, deleted_at=created + HOUR,
                                                      updated_at=created + HOUR))


def _emit_locks(calendar: Calendar, ids: IdMaker, rng: random.Random, out: Buffers) -> list[PeriodLock]:
    """Each month closed 5-9 days after it ends; the last one lock_pending; one lock deleted and redone."""
    locks: list[PeriodLock] = []
    n = calendar.months
    reopened = n - 3 if n >= 3 else None
    for k in range(n):
        start_day = calendar.month_start[k] // DAY
        end_day = calendar.month_start[k + 1] // DAY - 1
        if k == n - 1:
            created = calendar.now - 2 * HOUR
            lock = PeriodLock(ids.new("apl"), start_day, end_day, "lock_pending", created, None)
            _add_lock(out, lock, created)
            locks.append(lock)
            continue
        locked_at = calendar.month_start[k + 1] + (5 + rng.randint(0, 4)) * DAY + 17 * HOUR
        lock = PeriodLock(ids.new("apl"), start_day, end_day, "closed", locked_at - 5 * MINUTE, locked_at)
        if k == reopened:
            deleted_at = locked_at + 2 * DAY
            first = _lock_row(lock, updated_at=locked_at)
            lock = PeriodLock(lock.id, start_day, end_day, "closed", lock.created_at, locked_at, deleted_at)
            out.add_versions("accounting_period_lock", first, _lock_row(lock, updated_at=deleted_at))
            locks.append(lock)
            relocked = deleted_at + 3 * DAY
            lock = PeriodLock(ids.new("apl"), start_day, end_day, "closed", relocked - 5 * MINUTE, relocked)
        _add_lock(out, lock, lock.locked_at or lock.created_at)
        locks.append(lock)
    return locks


def _lock_row(lock: PeriodLock, updated_at: int) -> schema.Row:
    return schema.make_row(
        "accounting_period_lock", id=lock.id, created_at=lock.created_at, updated_at=updated_at,
        deleted_at=lock.deleted_at, period_start=lock.period_start_day, period_end=lock.period_end_day,
        status=lock.status, locked_at=lock.locked_at,
    )


def _add_lock(out: Buffers, lock: PeriodLock, updated_at: int) -> None:
    out.add("accounting_period_lock", _lock_row(lock, updated_at))
