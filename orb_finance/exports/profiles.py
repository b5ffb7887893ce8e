"""Who each simulated customer is: currency, plan, dates, payment behaviour and which special cases it carries.

A profile depends only on (seed, customer index). Customers 0-7 are "showcase" customers whose special
cases are forced, so even a tiny export exercises every SPEC §3 rule; the others draw theirs at random
with small probabilities.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Final

from . import money
from .catalog import Catalog, Coupon
from .calendar import Calendar

# Special cases (features):
#   credits           buys prepaid credits (one-off purchase invoices, cost basis < 1)
#   early_expiry      the first purchased block expires inside the window (breakage)
#   amendment         a decrement is partly given back (amendment)
#   expiration_change a block's expiry is extended
#   ledger_revert     a decrement is reverted and re-emitted
#   grant / grant_void  free credits (cost basis null) / a second free grant voided
#   threshold         threshold (partial) invoices mid-month
#   negotiated        a negotiated percentage discount on usage prices
#   coupon            redeems a percentage coupon at subscription start
#   upgrade           plan change starter -> growth (subscription versions)
#   churn             the subscription ends inside the window
#   goodwill          manual_adjustment balance increment
#   carryover         a tiny one-off invoice carried to the balance (small_invoice_carryover)
#   deleted_balance   a goodwill transaction that was deleted
#   slow              pays late, sometimes never
#   unpaid_tail       the last few issued invoices stay unpaid (every AR aging bucket)
#   void              an issued invoice voided and re-issued
#   cn_suite          credit notes of every kind (refund, adjustment, voided, deleted, unknown line)
#   refund_cn         a refund credit note on a paid invoice
#   deleted_draft     a one-off draft that was deleted
#   failed_first      the first Stripe attempt fails
#   mismatch_amount / missing_charge / orphan_charge / refunded_charge   processor mismatches
#   revision          backdated change: daily revenue rows of a line reverted and replaced
_SHOWCASE: Final[dict[int, tuple[str, str, bool, frozenset[str]]]] = {
    0: ("USD", "growth", True, frozenset({
        "credits", "early_expiry", "amendment", "mismatch_amount", "refunded_charge", "coupon", "revision"})),
    1: ("USD", "enterprise", True, frozenset({
        "threshold", "negotiated", "missing_charge", "orphan_charge", "failed_first", "revision"})),
    2: ("EUR", "growth", False, frozenset({"grant", "grant_void", "cn_suite", "goodwill", "unpaid_tail"})),
    3: ("JPY", "enterprise", True, frozenset({"credits", "expiration_change", "ledger_revert", "void", "negotiated"})),
    4: ("USD", "starter", True, frozenset({"carryover", "deleted_balance", "upgrade", "void", "goodwill"})),
    5: ("USD", "starter", False, frozenset({"slow", "unpaid_tail", "deleted_draft"})),
    7: ("EUR", "starter", True, frozenset({"churn", "coupon", "refund_cn", "deleted_draft"})),
    8: ("JPY", "growth", False, frozenset({"unpaid_tail", "cn_suite", "grant"})),
}
SHOWCASE_DELETED: Final = 6

_TAX_BP: Final[dict[str, tuple[int, ...]]] = {"USD": (0, 0, 500, 625, 725, 800), "EUR": (1900,), "JPY": (1000,)}
_TIMEZONES: Final[dict[str, tuple[str, ...]]] = {
    "USD": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "EUR": ("Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Amsterdam", "Europe/Dublin"),
    "JPY": ("Asia/Tokyo",),
}
_COUNTRIES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "USD": (("US", "New York"), ("US", "Austin"), ("US", "Denver"), ("US", "San Francisco"), ("US", "Chicago")),
    "EUR": (("DE", "Berlin"), ("FR", "Paris"), ("ES", "Madrid"), ("NL", "Amsterdam"), ("IE", "Dublin")),
    "JPY": (("JP", "Tokyo"), ("JP", "Osaka"), ("JP", "Fukuoka")),
}
_NAME_A: Final = ("Blue", "Bright", "North", "Quantum", "Silver", "Rapid", "Iron", "Lumen", "Cedar", "Nova", "Atlas",
                  "Harbor", "Summit", "Vector", "Pixel", "Orbit", "Delta", "Granite", "Maple", "Zephyr")
_NAME_B: Final = ("Labs", "Analytics", "Robotics", "Logistics", "Health", "Systems", "Cloud", "Media", "Energy",
                  "Foods", "Mobility", "Security", "Studio", "Networks", "Finance", "Bio")
_NAME_C: Final = ("Inc.", "LLC", "GmbH", "SAS", "K.K.", "Ltd.", "Co.")

# Base monthly usage ranges per tier, in each price's quantity units (compute: tenths of an hour).
_USAGE: Final[dict[str, dict[str, tuple[int, int]]]] = {
    "starter": {"api": (150_000, 2_500_000)},
    "growth": {"api": (2_000_000, 25_000_000), "compute": (2_000, 30_000)},
    "enterprise": {"api": (20_000_000, 250_000_000), "compute": (20_000, 200_000), "transfer": (5_000, 80_000)},
}


@dataclass(frozen=True)
class Profile:
    index: int
    deleted: bool
    currency: str
    tier: str
    stripe: bool
    start: int                   # month index of the subscription start
    end: int | None              # month index at which it ends (month_start[end]); None: open-ended
    upgrade_at: int | None       # month index of the starter -> growth change
    tax_bp: int
    seats: int
    usage_base: dict[str, int]
    usage_growth_pct: int
    features: frozenset[str]
    coupon: Coupon | None
    negotiated_ppm: int
    name: str
    timezone: str
    country: str
    city: str

    def has(self, feature: str) -> bool:
        return feature in self.features

    def billing_address(self, street_no: int) -> str:
        return json.dumps({"line1": f"{street_no} Market Street", "city": self.city, "country": self.country,
                           "postal_code": f"{10000 + street_no * 7 % 89999}"})


def draw_profile(index: int, rng: random.Random, calendar: Calendar, catalog: Catalog) -> Profile:
    n = calendar.months
    if index in _SHOWCASE:
        currency, tier, stripe, features = _SHOWCASE[index]
        start = 0
        deleted = False
    else:
        currency = rng.choices(("USD", "EUR", "JPY"), weights=(72, 18, 10))[0]
        tier = rng.choices(("starter", "growth", "enterprise"), weights=(64, 29, 7))[0]
        stripe = rng.random() < 0.7
        start = _draw_start(rng, n)
        deleted = index == SHOWCASE_DELETED or rng.random() < 0.01
        features = _random_features(rng, currency, tier, stripe, start, n)
    if index == SHOWCASE_DELETED:
        deleted, features = True, frozenset()
    end = _draw_end(rng, features, start, n)
    upgrade_at = None
    if "upgrade" in features and tier == "starter":
        last = n if end is None else end
        if last - start >= 3:
            upgrade_at = start + max(1, (last - start) // 2)
    usage_base = {kind: _log_uniform(rng, *bounds) for kind, bounds in _USAGE[_usage_tier(tier, upgrade_at)].items()}
    if upgrade_at is not None:
        usage_base.update({kind: _log_uniform(rng, *b) for kind, b in _USAGE["starter"].items()})
    country, city = rng.choice(_COUNTRIES[currency])
    coupon = rng.choice(catalog.coupons) if "coupon" in features else None
    return Profile(
        index=index, deleted=deleted, currency=currency, tier=tier, stripe=stripe, start=start, end=end,
        upgrade_at=upgrade_at, tax_bp=rng.choice(_TAX_BP[currency]),
        seats=rng.randint(3, 40), usage_base=usage_base,
        usage_growth_pct=rng.randint(-1, 6), features=features, coupon=coupon,
        negotiated_ppm=rng.choice((50_000, 80_000, 120_000)) if "negotiated" in features else 0,
        name=f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {rng.choice(_NAME_C)}",
        timezone=rng.choice(_TIMEZONES[currency]), country=country, city=city,
    )


def _draw_start(rng: random.Random, n: int) -> int:
    """A growing customer base: a few customers predate the window, then sign-ups grow month by month."""
    if rng.random() < 0.05:
        return 0
    return min(n - 1, int(n * rng.random() ** 0.4))


def _usage_tier(tier: str, upgrade_at: int | None) -> str:
    return "growth" if upgrade_at is not None else tier


def _draw_end(rng: random.Random, features: frozenset[str], start: int, n: int) -> int | None:
    if "churn" not in features:
        return None
    if n - start < 3:
        return None
    return rng.randint(start + 2, n - 1) if n - start > 3 else start + 2


def _random_features(rng: random.Random, currency: str, tier: str, stripe: bool, start: int, n: int) -> frozenset[str]:
    f: set[str] = set()

    def maybe(name: str, p: float) -> None:
        if rng.random() < p:
            f.add(name)

    maybe("churn", 0.18)
    maybe("threshold", 0.35 if tier == "enterprise" else 0.0)
    if "threshold" not in f:
        maybe("credits", 0.03 if tier == "starter" else 0.12)
        maybe("grant", 0.08)
    if "credits" in f:
        maybe("amendment", 0.25)
        maybe("expiration_change", 0.15)
        maybe("ledger_revert", 0.1)
    if "grant" in f:
        maybe("grant_void", 0.25)
    maybe("negotiated", 0.5 if tier == "enterprise" else 0.0)
    maybe("coupon", 0.15)
    maybe("upgrade", 0.12 if tier == "starter" else 0.0)
    maybe("goodwill", 0.05)
    if stripe and currency == "USD":
        maybe("carryover", 0.02)
    maybe("deleted_balance", 0.005)
    maybe("slow", 0.05)
    maybe("deleted_draft", 0.01)
    maybe("refund_cn", 0.02)
    if stripe:
        maybe("failed_first", 0.3)
        maybe("mismatch_amount", 0.004)
        maybe("missing_charge", 0.003)
        maybe("orphan_charge", 0.002)
        maybe("refunded_charge", 0.005)
    return frozenset(f)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    """An int between low and high, spread evenly over orders of magnitude."""
    return int(low * (high / low) ** rng.random())


def expected_monthly_usage(profile: Profile, catalog: Catalog) -> int:
    """Rough monthly usage billing (invoicing currency, micro-units): sizes credit purchases and thresholds."""
    plan = catalog.plan(profile.currency, _usage_tier(profile.tier, profile.upgrade_at))
    total = 0
    for price in plan.prices:
        if price.is_usage and price.kind in profile.usage_base:
            subtotal = profile.usage_base[price.kind] * price.unit_amount // price.quantity_scale
            total += subtotal * price.conversion_rate // money.MICRO
    return total
