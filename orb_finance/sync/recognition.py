"""Revenue recognition from the warehouse (SPEC §5.2): the monthly journals that move recognized revenue from
deferred revenue into the revenue accounts, so the books' revenue and deferred balance equal the marts.

Owns the journal of each ended month and currency (from revenue_monthly and deferred_revenue_rollforward), the rule
that a journaled month is never edited (a later change lands as a correcting line in the first month not yet
journaled, attributed to the month it corrects), the unbilled-revenue reclassification (a negative deferred balance
is shown as unbilled revenue, an asset), and the same journals as balanced debit/credit lines for any ERP
(`orbfin journal export`). Pure functions of the marts and of what earlier journals booked.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from .payloads import (CREDIT_BREAKAGE, CREDIT_CONSUMPTION, CREDIT_NOTES, DEFERRED_REVENUE, REVENUE_KINDS,
                       UNBILLED_REVENUE, USAGE, JournalLine, RevenueJournalPayload)

ZERO = Decimal(0)
# revenue_monthly's measure of each revenue kind
MEASURES = {USAGE: "usage_revenue", CREDIT_CONSUMPTION: "credit_consumption_revenue",
            CREDIT_BREAKAGE: "credit_breakage_revenue", CREDIT_NOTES: "credit_note_revenue"}
# the names a journal export gives the accounts (an ERP maps them to its own chart)
ACCOUNT_NAMES = {USAGE: "Revenue: usage", CREDIT_CONSUMPTION: "Revenue: prepaid credit consumption",
                 CREDIT_BREAKAGE: "Revenue: prepaid credit breakage", CREDIT_NOTES: "Credit notes (contra-revenue)",
                 DEFERRED_REVENUE: "Deferred revenue", UNBILLED_REVENUE: "Unbilled revenue"}


def journal_id(month: dt.date, currency: str) -> str:
    return f"revenue:{month:%Y-%m}:{currency}"


def parse_journal_id(orb_id: str) -> tuple[dt.date, str]:
    _, month, currency = orb_id.split(":")
    return dt.date.fromisoformat(month + "-01"), currency


def last_ended_month(as_of: dt.date) -> dt.date:
    """The first day of the last month that has ended on `as_of`."""
    return (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def next_month(month: dt.date) -> dt.date:
    return (month_end(month) + dt.timedelta(days=1)).replace(day=1)


def ended(month: dt.date, as_of: dt.date) -> bool:
    """A month has ended once the day after its last day has come (and is not after as_of_date)."""
    return next_month(month) <= as_of


@dataclass
class Booked:
    """What the journals already in the books hold for one currency: recognized revenue per (month, kind) and the
    unbilled-revenue balance; `last` is the latest journaled month (the frontier)."""
    revenue: dict[tuple[dt.date, str], Decimal]
    unbilled: Decimal
    last: dt.date | None

    @classmethod
    def of(cls, journals: Iterable[tuple[dt.date, list[JournalLine]]], frontier: dt.date | None = None) -> "Booked":
        """`frontier`: the last month an earlier pass processed, journal or not (a month with nothing to book has
        no entry, but it is closed all the same: a later change to it is a correction in a later month)."""
        revenue: dict[tuple[dt.date, str], Decimal] = defaultdict(lambda: ZERO)
        unbilled, last = ZERO, frontier
        for month, lines in journals:
            last = month if last is None or month > last else last
            for l in lines:
                if l.kind in REVENUE_KINDS:
                    revenue[(l.month, l.kind)] += -l.amount          # income lines are credits
                elif l.kind == UNBILLED_REVENUE:
                    unbilled += l.amount
        return cls(dict(revenue), unbilled, last)


def exact(revenue_monthly: dict, month: dt.date, currency: str) -> dict[str, Decimal]:
    row = revenue_monthly.get((month, currency))
    return {k: (row[m] if row else ZERO) for k, m in MEASURES.items()}


def round_minor(value: Decimal, minor_unit: int) -> Decimal:
    """To the currency's minor unit, half away from zero (SPEC §3)."""
    from decimal import ROUND_HALF_UP
    return value.quantize(Decimal(1).scaleb(-minor_unit), rounding=ROUND_HALF_UP)


def recognized(revenue_monthly: dict, month: dt.date, currency: str, minor_unit: int | None = None) -> dict[str, Decimal]:
    """A month's recognized revenue per kind, as the books hold it: with a minor unit, the difference of the rounded
    running totals (so the books' running total is always the marts' rounded to the cent, and no fraction of a
    cent is lost or booked twice from month to month)."""
    if minor_unit is None:
        return exact(revenue_monthly, month, currency)
    before = {k: ZERO for k in MEASURES}
    through = {k: ZERO for k in MEASURES}
    for (m, c), row in revenue_monthly.items():
        if c != currency or m > month:
            continue
        for k, measure in MEASURES.items():
            through[k] += row[measure]
            if m < month:
                before[k] += row[measure]
    return {k: round_minor(through[k], minor_unit) - round_minor(before[k], minor_unit) for k in MEASURES}


def months_of(revenue_monthly: dict, rollforward: dict, currency: str) -> list[dt.date]:
    return sorted({m for (m, c) in list(revenue_monthly) + list(rollforward) if c == currency})


def currencies_of(revenue_monthly: dict, rollforward: dict) -> list[str]:
    return sorted({c for (_, c) in list(revenue_monthly) + list(rollforward)})


def closing(rollforward: dict, month: dt.date, currency: str, minor_unit: int | None = None) -> Decimal:
    """The roll-forward's closing balance at the end of `month` (the last month before it with a row, else 0)."""
    best = None
    for (m, c) in rollforward:
        if c == currency and m <= month and (best is None or m > best):
            best = m
    value = rollforward[(best, currency)]["closing_balance"] if best is not None else ZERO
    return value if minor_unit is None else round_minor(value, minor_unit)


def corrections(revenue_monthly: dict, booked: Booked, currency: str, minor_unit: int | None = None) -> list[JournalLine]:
    """For every month up to the frontier: what the warehouse says now minus what the books hold for it."""
    if booked.last is None:
        return []
    out = []
    months = {m for (m, c) in revenue_monthly if c == currency and m <= booked.last} | {m for (m, _) in booked.revenue}
    for month in sorted(months):
        now = recognized(revenue_monthly, month, currency, minor_unit)
        for kind in REVENUE_KINDS:
            delta = now[kind] - booked.revenue.get((month, kind), ZERO)
            if delta:
                out.append(JournalLine(kind, -delta, month))
    return out


def journal(month: dt.date, currency: str, revenue_monthly: dict, rollforward: dict, unbilled_before: Decimal,
            corrections_: list[JournalLine] = (), minor_unit: int | None = None) -> tuple[RevenueJournalPayload, Decimal]:
    """The journal of `month`: its recognized revenue credited to the revenue accounts (credit notes debited),
    the corrections of earlier months, deferred revenue debited by the total, and deferred revenue reclassified to
    unbilled revenue (an asset) by what makes unbilled revenue max(0, -closing balance). Returns the payload and
    the unbilled balance after it."""
    lines = [JournalLine(kind, -amount, month)
             for kind, amount in recognized(revenue_monthly, month, currency, minor_unit).items() if amount]
    lines += list(corrections_)
    total = -sum((l.amount for l in lines), ZERO)                      # the revenue this entry recognizes
    if total:
        lines.append(JournalLine(DEFERRED_REVENUE, total, month))
    unbilled = max(ZERO, -closing(rollforward, month, currency, minor_unit))
    move = unbilled - unbilled_before
    if move:
        lines += [JournalLine(UNBILLED_REVENUE, move, month), JournalLine(DEFERRED_REVENUE, -move, month)]
    corrected = tuple(sorted({l.month for l in corrections_}))
    payload = RevenueJournalPayload(journal_id(month, currency), currency, month, month_end(month), tuple(lines),
                                    corrected)
    return payload, unbilled


@dataclass
class Planned:
    """The journals a pass should create for one currency, and what waits: corrections with no ended month after
    the frontier to carry them yet."""
    journals: list[RevenueJournalPayload]
    waiting: list[JournalLine]


def plan_currency(currency: str, revenue_monthly: dict, rollforward: dict, booked: Booked, as_of: dt.date,
                  blocked: bool = False, minor_unit: int | None = None) -> Planned:
    """Journals for the ended months after the frontier, in order; the first one that has anything to book carries
    the corrections. `blocked`: an earlier journal of this currency is not in the books yet (failed or pending):
    nothing new is journaled until it is."""
    pending_corrections = corrections(revenue_monthly, booked, currency, minor_unit)
    if blocked:
        return Planned([], pending_corrections)
    out, unbilled = [], booked.unbilled
    active = months_of(revenue_monthly, rollforward, currency)
    month = next_month(booked.last) if booked.last is not None else (active[0] if active else None)
    while month is not None and ended(month, as_of):      # every ended month after the frontier, quiet ones too
        current, month = month, next_month(month)
        payload, after = journal(current, currency, revenue_monthly, rollforward, unbilled, pending_corrections,
                                 minor_unit)
        if not payload.lines:
            continue                   # nothing to book this month (and no correction to carry): no entry
        out.append(payload)
        unbilled, pending_corrections = after, []
    return Planned(out, pending_corrections)


# --- journal export (any ERP) ---------------------------------------------------------------------------

EXPORT_COLUMNS = ["date", "account", "currency", "debit", "credit", "memo", "orb_month", "orb_kind", "orb_journal"]


def export_rows(payloads: Iterable[RevenueJournalPayload]) -> list[dict[str, str]]:
    rows = []
    for p in payloads:
        for l in p.lines:
            rows.append({"date": p.entry_date.isoformat(), "account": ACCOUNT_NAMES[l.kind], "currency": p.currency,
                         "debit": _money(l.amount) if l.amount > 0 else "",
                         "credit": _money(-l.amount) if l.amount < 0 else "",
                         "memo": (f"Recognized revenue of {l.month:%Y-%m} (Orb warehouse)" if l.month == p.month
                                  else f"Correction of {l.month:%Y-%m} (a change after it was journaled)"),
                         "orb_month": f"{l.month:%Y-%m}", "orb_kind": l.kind, "orb_journal": p.orb_id})
    return rows


def write_export(payloads: Iterable[RevenueJournalPayload], path: str | os.PathLike[str]) -> int:
    rows = export_rows(payloads)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, EXPORT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def month_journals(month: dt.date, revenue_monthly: dict, rollforward: dict,
                   minor_units: dict[str, int]) -> list[RevenueJournalPayload]:
    """The journal of one month for every currency, from the warehouse alone (no earlier journals: the unbilled
    reclassification is computed from the month before)."""
    out = []
    for currency in currencies_of(revenue_monthly, rollforward):
        unit = minor_units.get(currency, 2)
        before = max(ZERO, -closing(rollforward, month.replace(day=1) - dt.timedelta(days=1), currency, unit))
        payload, _ = journal(month, currency, revenue_monthly, rollforward, before, minor_unit=unit)
        if payload.lines:
            out.append(payload)
    return out


def _money(value: Decimal) -> str:
    q = value.normalize()
    if q.as_tuple().exponent > -2:
        q = q.quantize(Decimal("0.01"))
    return format(q, "f")
