"""A sample reporting-currency rate file beside the sample export (SPEC §3 "Reporting currency"): `fx_rates.csv`.

Owns the sample rates: USD per unit of every other currency the generator bills in, on business days only (a
weekend takes Friday's rate), from a week before the first month to the last day of the history; a seeded walk.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Final

FILE_NAME: Final = "fx_rates.csv"
REPORTING_CURRENCY: Final = "USD"
# Starting rate (USD for 1 unit) and the decimals the sample keeps.
START: Final[dict[str, tuple[Decimal, int]]] = {"EUR": (Decimal("1.0850"), 6), "JPY": (Decimal("0.0066667"), 9)}
DAILY_MOVE: Final = 0.004          # at most +/- 0.4 % a business day


def write_sample_rates(out_dir: Path, first_day: dt.date, end: dt.date, seed: int) -> Path:
    """Write `out_dir/fx_rates.csv` (rate_date, currency, rate) for reporting currency USD; returns its path."""
    rng = random.Random(f"fx-rates-{seed}")
    rates = {code: rate for code, (rate, _) in START.items()}
    rows: list[tuple[str, str, str]] = []
    day = first_day - dt.timedelta(days=7)
    while day < end:
        if day.weekday() < 5:
            for code, (_, places) in START.items():
                move = Decimal(str(round(rng.uniform(-DAILY_MOVE, DAILY_MOVE), 6)))
                rates[code] = (rates[code] * (1 + move)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
                rows.append((day.isoformat(), code, format(rates[code], "f")))
        day += dt.timedelta(days=1)
    path = out_dir / FILE_NAME
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["rate_date", "currency", "rate"])
        writer.writerows(rows)
    return path
