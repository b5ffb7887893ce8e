"""Headline numbers of a built warehouse, per currency: what a person checks first after a build.

Reads the marts with exact decimals (fetchall, never .df()) and renders them as a rich table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
from rich.table import Table

from .marts import format_money


@dataclass(frozen=True)
class CurrencyHeadline:
    currency: str
    last_month: object
    net_billings: Decimal
    recognized_revenue: Decimal
    ar_outstanding: Decimal
    ar_past_due: Decimal
    deferred_balance: Decimal
    minor_unit: int = 2


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


def headline_table(headlines: list[CurrencyHeadline]) -> Table:
    table = Table(title="Headline numbers (latest billed month per currency)")
    for column in ("currency", "month", "net billings", "recognized revenue", "AR outstanding", "AR past due",
                   "deferred revenue"):
        table.add_column(column, justify="left" if column in ("currency", "month") else "right")
    for h in headlines:
        table.add_row(h.currency, str(h.last_month), *(format_money(v, h.currency, {h.currency: h.minor_unit}) for v in (
            h.net_billings, h.recognized_revenue, h.ar_outstanding, h.ar_past_due, h.deferred_balance)))
    return table


def currency_headlines(db_path: Path) -> list[CurrencyHeadline]:
    """The per-currency headlines alone (the nightly HTML summary's first table), read exactly."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            """
            with last_month as (
                select currency, max(month) as month from marts.billings_monthly group by currency
            )
            select
                last_month.currency,
                last_month.month,
                coalesce(b.net_billings, 0),
                coalesce(r.total_revenue, 0),
                coalesce((select sum(amount_outstanding) from marts.ar_aging a where a.currency = last_month.currency), 0),
                coalesce((select sum(amount_outstanding) from marts.ar_aging a
                          where a.currency = last_month.currency and a.aging_bucket <> 'current'), 0),
                coalesce(d.closing_balance, 0),
                coalesce(c.minor_unit, 2)
            from last_month
            left join seeds.currencies c on c.currency_code = last_month.currency
            left join marts.billings_monthly b on b.currency = last_month.currency and b.month = last_month.month
            left join marts.revenue_monthly r on r.currency = last_month.currency and r.month = last_month.month
            left join marts.deferred_revenue_rollforward d on d.currency = last_month.currency and d.month = last_month.month
            order by last_month.currency
            """
        ).fetchall()
    finally:
        con.close()
    return [CurrencyHeadline(*row) for row in rows]
