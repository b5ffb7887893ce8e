"""Money as the workbook, the HTML summary and the headlines show it: rounded to the currency's minor unit, and
adding up on the page (DECISIONLOG "Money in the reports: displayed amounts add up").

Owns the display rule: every amount is the exact value rounded to its currency's minor unit (half away from
zero); a column a mart defines as the sum of others in the same row (total revenue, net billings, the discount
ladder's rounding, an invoice's amount outstanding, a reconciliation difference) shows the sum of the displayed
parts; the deferred revenue roll-forward shows each month's billed and recognized as the differences of the
rounded running totals, so opening + billed - recognized = closing on every row and each closing balance is the
exact one to within one minor unit. A total shown under a column is the sum of the displayed cells. The exact
values stay in the CSV files.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Sequence

from .marts import Mart, minor_unit

ZERO = Decimal(0)
REVENUE_PARTS = ((1, "usage_revenue"), (1, "credit_consumption_revenue"), (1, "credit_breakage_revenue"),
                 (1, "credit_note_revenue"))
ITEM_PARTS = ((1, "usage_revenue"), (1, "credit_revenue"), (1, "credit_note_revenue"))
BILLINGS_PARTS = ((1, "gross_billings"), (-1, "credit_notes"), (-1, "customer_balance_applied"))


def _reporting(parts: tuple[tuple[int, str], ...]) -> tuple[tuple[int, str], ...]:
    return tuple((sign, f"{name}_reporting") for sign, name in parts)


# mart -> [(the column shown as the sum of the others, ((sign, column), ...))]: how the mart's SQL defines the
# column, kept on the displayed values. They hold exactly on the marts' values, except converted amounts (each
# rounded from its own conversion, SPEC §3 "Reporting currency": a total may differ from its converted parts by
# a minor unit); shown, those add up too.
IDENTITIES: dict[str, list[tuple[str, tuple[tuple[int, str], ...]]]] = {
    "revenue_daily": [("total_revenue", REVENUE_PARTS)],
    "revenue_monthly": [("total_revenue", REVENUE_PARTS)],
    "revenue_lock_adjusted_monthly": [("total_revenue", ITEM_PARTS)],
    "revenue_by_item_monthly": [("total_revenue", ITEM_PARTS)],
    "billings_monthly": [("net_billings", BILLINGS_PARTS)],
    # billed = list_price - discounts - credits_applied - partially_invoiced + rounding: billed is what was
    # invoiced (whole minor units), so the ladder's own rounding step takes the display's rounding too
    "discounts_monthly": [("rounding", ((1, "billed"), (-1, "list_price"), (1, "discounts"), (1, "credits_applied"),
                                        (1, "partially_invoiced")))],
    "ar_aging": [("amount_outstanding", ((1, "amount_due"), (-1, "adjustment_credits")))],
    "payment_reconciliation": [("difference", ((1, "orb_amount_paid"), (-1, "processor_amount")))],
    "revenue_monthly_reporting": [("total_revenue", REVENUE_PARTS),
                                  ("total_revenue_reporting", _reporting(REVENUE_PARTS))],
    "billings_monthly_reporting": [("net_billings", BILLINGS_PARTS),
                                   ("net_billings_reporting", _reporting(BILLINGS_PARTS))],
}
ROLLFORWARD = "deferred_revenue_rollforward"


def round_money(value: Decimal | None, places: int) -> Decimal | None:
    """To `places` decimals, half away from zero (SPEC §3); None stays None."""
    if value is None:
        return None
    q = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return q if q != 0 else abs(q)          # never "-0.00"


def display_mart(mart: Mart, minor_units: dict[str, int]) -> Mart:
    """The mart as shown: money rounded per row currency, identities kept (see the module docstring)."""
    names = [c.name for c in mart.columns]
    money = [(i, mart.money_currency_index(c)) for i, c in enumerate(mart.columns) if c.is_money]
    identities = [(names.index(total), [(sign, names.index(part)) for sign, part in parts])
                  for total, parts in IDENTITIES.get(mart.name, []) if total in names]
    rows = []
    for row in mart.rows:
        out = list(row)
        places = {}
        for i, at in money:
            places[i] = minor_unit(row[at] if at is not None else None, minor_units)
            out[i] = round_money(row[i], places[i])
        for total, parts in identities:
            if out[total] is None or any(out[p] is None for _, p in parts):
                continue
            out[total] = round_money(sum((sign * out[p] for sign, p in parts), ZERO), places[total])
        rows.append(tuple(out))
    if mart.name == ROLLFORWARD:
        rows = _rollforward(mart, rows, minor_units)
    return Mart(mart.name, mart.columns, rows)


def display_marts(marts: Sequence[Mart], minor_units: dict[str, int]) -> list[Mart]:
    return [display_mart(m, minor_units) for m in marts]


def _rollforward(mart: Mart, shown: list[tuple], minor_units: dict[str, int]) -> list[tuple]:
    """Per currency, month by month: billed and recognized are the differences of the rounded running totals of
    the exact amounts; closing = rounded running billed - rounded running recognized; opening = the previous
    closing (0 for the first month, as in the mart)."""
    ix = {c.name: i for i, c in enumerate(mart.columns)}
    order = sorted(range(len(mart.rows)), key=lambda k: (mart.rows[k][ix["currency"]], mart.rows[k][ix["month"]]))
    out = list(shown)
    running: dict[str, tuple[Decimal, Decimal, Decimal]] = {}    # currency -> exact billed, exact recognized, closing shown
    for k in order:
        row = mart.rows[k]
        currency = row[ix["currency"]]
        places = minor_unit(currency, minor_units)
        billed, recognized, opening = running.get(currency, (ZERO, ZERO, ZERO))
        billed_before, recognized_before = round_money(billed, places), round_money(recognized, places)
        billed += row[ix["billed"]] or ZERO
        recognized += row[ix["recognized"]] or ZERO
        billed_now, recognized_now = round_money(billed, places), round_money(recognized, places)
        closing = round_money(billed_now - recognized_now, places)
        values = list(out[k])
        values[ix["opening_balance"]] = opening
        values[ix["billed"]] = round_money(billed_now - billed_before, places)
        values[ix["recognized"]] = round_money(recognized_now - recognized_before, places)
        values[ix["closing_balance"]] = closing
        out[k] = tuple(values)
        running[currency] = (billed, recognized, closing)
    return out


def column_total(rows: Sequence[dict[str, Any]], column: str) -> Decimal:
    """A total under a column of displayed amounts: their sum (what a reader adding them up gets)."""
    return sum((r[column] for r in rows if r.get(column) is not None), ZERO)
