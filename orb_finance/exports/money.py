"""Integer money for the generator: amounts are ints in micro-units (1 = 0.000001) or in minor units.

Owns the currencies the sample uses (minor units, tax rates, price levels) and the rounding rule of
SPEC §3 (to the currency's minor unit, half away from zero). No float and no Decimal ever touch money.
"""

from __future__ import annotations

from typing import Final

MICRO: Final = 1_000_000

MINOR_DIGITS: Final[dict[str, int]] = {"USD": 2, "EUR": 2, "JPY": 0}

# Price level of each currency relative to USD, as (numerator, denominator): EUR ~ 0.92 USD, JPY ~ 150 per USD.
PRICE_LEVEL: Final[dict[str, tuple[int, int]]] = {"USD": (1, 1), "EUR": (23, 25), "JPY": (150, 1)}


def micro_per_minor(currency: str) -> int:
    """Micro-units in one minor unit: 10,000 for USD/EUR (cents), 1,000,000 for JPY (whole yen)."""
    return 10 ** (6 - MINOR_DIGITS[currency])


def div_half_away(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def round_to_minor(amount_micro: int, currency: str) -> int:
    """A micro-unit amount rounded to the currency's minor unit, half away from zero; result in minor units."""
    return div_half_away(amount_micro, micro_per_minor(currency))


def floor_to_minor_micro(amount_micro: int, currency: str) -> int:
    """A non-negative micro-unit amount truncated to whole minor units, still in micro-units."""
    step = micro_per_minor(currency)
    return (amount_micro // step) * step


def minor_to_micro(amount_minor: int, currency: str) -> int:
    return amount_minor * micro_per_minor(currency)


def micro_to_minor_exact(amount_micro: int, currency: str) -> int:
    step = micro_per_minor(currency)
    if amount_micro % step:
        raise ValueError(f"{amount_micro} micro-units is not a whole number of {currency} minor units")
    return amount_micro // step


def scale_price(usd_micro: int, currency: str) -> int:
    """A USD price level converted to `currency` (rounded to the minor unit), in micro-units."""
    num, den = PRICE_LEVEL[currency]
    return minor_to_micro(round_to_minor(usd_micro * num // den, currency), currency)


def tax_minor(amount_minor: int, rate_bp: int) -> int:
    """Tax on a minor-unit amount at `rate_bp` basis points (1900 = 19%), rounded half away from zero."""
    return div_half_away(amount_minor * rate_bp, 10_000)


def multiply_micro(a_micro: int, b_micro: int) -> int:
    """a x b for two micro-unit numbers; the product must fit micro-units exactly (the sample keeps it so)."""
    product = a_micro * b_micro
    if product % MICRO:
        raise ValueError(f"{a_micro} x {b_micro} micro does not fit six decimals")
    return product // MICRO


def fraction_micro(amount_micro: int, num: int, den: int) -> int:
    """amount x num / den rounded half away from zero to micro-units."""
    return div_half_away(amount_micro * num, den)
