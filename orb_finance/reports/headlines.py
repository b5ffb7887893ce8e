"""Headline numbers of a built warehouse, per currency: what a person checks first after a build.

Reads the marts with exact decimals (fetchall, never .df()) and takes the headlines from their displayed
values (reports/display.py), so they are the numbers the HTML summary and the workbook show; renders them as a
rich table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Sequence

import duckdb
from rich.table import Table

from .display import ZERO, display_mart
from .marts import Mart, format_money, read_marts

HEADLINE_MARTS = ["billings_monthly", "revenue_monthly", "ar_aging_summary", "deferred_revenue_rollforward"]


@dataclass(frozen=True)
class CurrencyHeadline:
    currency: str
    last_month: object
    net_billings: Decimal
    recognized_revenue: Decimal
    ar_outstanding: Decimal
    ar_past_due: Decimal
    deferred_balance: Decimal          # the roll-forward's closing balance: above 0 deferred, below 0 unbilled
    minor_unit: int = 2

    @property
    def deferred_revenue(self) -> Decimal:
        """Billed, not yet recognized (a liability)."""
        return max(ZERO, self.deferred_balance)

    @property
    def unbilled_revenue(self) -> Decimal:
        """Recognized, not yet billed (an asset): a negative roll-forward balance."""
        return max(ZERO, -self.deferred_balance)


def table_row_counts(db_path: Path) -> dict[str, int]:
    """Rows of every table in the staging and marts schemas, as `schema.table` (DuckDB's estimate)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return dict(con.execute(
            "select schema_name || '.' || table_name, estimated_size from duckdb_tables() "
            "where schema_name in ('staging', 'marts') order by 1"
        ).fetchall())
    finally:
        con.close()


HEADLINE_COLUMNS = ("currency", "month", "net billings", "revenue", "AR open", "past due", "deferred", "unbilled")


def headline_table(headlines: list[CurrencyHeadline]) -> Table:
    """The headlines in a table that fits 80 columns: the month goes in the title when every currency's latest
    billed month is the same, in a column otherwise."""
    from ..tables import compact_table

    months = {_month(h.last_month) for h in headlines}
    one_month = len(months) == 1
    table = compact_table(
        title="Headline numbers" + (f", {next(iter(months))}" if one_month else " (latest billed month per currency)"),
        caption="net billings and revenue of the month; AR on the as-of date; deferred: billed, not yet recognized; "
                "unbilled: recognized, not yet billed")
    columns = [c for c in HEADLINE_COLUMNS if not (one_month and c == "month")]
    for column in columns:
        table.add_column(column, justify="left" if column in ("currency", "month") else "right", no_wrap=True)
    for h in headlines:
        amounts = [format_money(v, h.currency, {h.currency: h.minor_unit}) for v in (
            h.net_billings, h.recognized_revenue, h.ar_outstanding, h.ar_past_due, h.deferred_revenue,
            h.unbilled_revenue)]
        table.add_row(h.currency, *([] if one_month else [_month(h.last_month)]), *amounts)
    return table


def _month(value: object) -> str:
    return f"{value:%b %Y}" if hasattr(value, "strftime") else str(value)


def headlines_of(marts: dict[str, Mart], minor_units: dict[str, int]) -> list[CurrencyHeadline]:
    """Per currency with billings: its latest billed month's net billings, recognized revenue and roll-forward
    balance, and AR as of the as-of date (all five buckets, and past due = every bucket but current), from the
    displayed marts (a headline is the number shown in the summary's charts and the workbook)."""
    shown = {name: display_mart(marts[name], minor_units) for name in HEADLINE_MARTS}

    def rows(name: str) -> list[dict]:
        m = shown[name]
        names = [c.name for c in m.columns]
        return [dict(zip(names, r)) for r in m.rows]

    billings, revenue = rows("billings_monthly"), rows("revenue_monthly")
    aging, rollforward = rows("ar_aging_summary"), rows("deferred_revenue_rollforward")
    out = []
    for currency in sorted({r["currency"] for r in billings}):
        month = max(r["month"] for r in billings if r["currency"] == currency)
        def at(rs: Sequence[dict], column: str) -> Decimal:
            return next((r[column] for r in rs if r["currency"] == currency and r["month"] == month), None) or ZERO
        open_ = [r for r in aging if r["currency"] == currency]
        out.append(CurrencyHeadline(
            currency, month, at(billings, "net_billings"), at(revenue, "total_revenue"),
            sum((r["amount_outstanding"] for r in open_), ZERO),
            sum((r["amount_outstanding"] for r in open_ if r["aging_bucket"] != "current"), ZERO),
            at(rollforward, "closing_balance"), minor_units.get(currency, 2)))
    return out


def currency_headlines(db_path: Path) -> list[CurrencyHeadline]:
    """The per-currency headlines of a warehouse (the demo's table; the nightly summary's first table)."""
    marts, minor_units = read_marts(db_path, HEADLINE_MARTS)
    return headlines_of({m.name: m for m in marts}, minor_units)
