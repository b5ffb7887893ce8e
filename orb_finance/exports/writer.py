"""Writing delivery files with DuckDB: row buffers and the daily revenue expansion, in parquet, csv or jsonl.

Owns the file layout (`<out>/<resource>/<delivery date>-<part>.<ext>`), the conversion of the integer
encoding of `schema` into file types (DECIMAL(18,6), TIMESTAMP, DATE; in jsonl money as strings like
"12.340000" and timestamps as ISO-8601 with Z), and the SQL that expands invoice lines into one revenue row
per UTC day: integer arithmetic in micro/minor units, pseudo-random day weights from the line key and day
number, the remainder on the last day, backdated replacements, reverts and their `_event` rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from . import schema
from .buffers import Buffers, DailyLine
from .calendar import DAY, Calendar, LockBook

FORMATS: Final = ("parquet", "csv", "jsonl")
DELIVERY_SUFFIXES: Final = (".parquet", ".csv", ".csv.gz", ".jsonl")

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "str": pa.string(), "json": pa.string(), "ts": pa.int64(), "date": pa.int64(), "dec": pa.int64(),
    "int": pa.int64(), "bool": pa.bool_(),
}


def _select_expr(column: str, kind: str, fmt: str) -> str:
    """SQL turning the integer-encoded `column` into its file representation."""
    col = f'"{column}"'
    if kind == "dec":
        value = f"CAST(CAST({col} AS DECIMAL(18, 0)) * 0.000001 AS DECIMAL(18, 6))"
        return f"CAST({value} AS VARCHAR)" if fmt == "jsonl" else value
    if kind == "ts":
        value = f"make_timestamp({col} * 1000000)"
        return f"strftime({value}, '%Y-%m-%dT%H:%M:%SZ')" if fmt == "jsonl" else value
    if kind == "date":
        value = f"(DATE '1970-01-01' + CAST({col} AS INTEGER))"
        return f"CAST({value} AS VARCHAR)" if fmt == "jsonl" else value
    if kind == "json" and fmt == "jsonl":
        return f"CAST({col} AS JSON)"
    return col


class ExportWriter:
    """Writes one export directory; counts rows and files as it goes."""

    def __init__(self, out_dir: Path, fmt: str, calendar: Calendar, locks: LockBook, *, threads: int = 2,
                 memory_limit: str = "1GB") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out_dir, self.fmt, self.calendar = out_dir, fmt, calendar
        self.rows: Counter[str] = Counter()
        self.files = 0
        self.bytes = 0
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET threads = {threads}")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET preserve_insertion_order = true")
        steps = locks.steps()
        self.con.execute("CREATE TABLE lock_steps (locked_at BIGINT, closed_through BIGINT)")
        if steps:
            self.con.executemany("INSERT INTO lock_steps VALUES (?, ?)", steps)

    def close(self) -> None:
        self.con.close()

    # --- files -----------------------------------------------------------------------------------------

    def _path(self, resource: str, batch: int, part: int) -> Path:
        delivery = self.calendar.delivery_names()[batch - 1]
        ext = {"parquet": "parquet", "jsonl": "jsonl"}.get(self.fmt)
        if ext is None:
            ext = "csv.gz" if resource in schema.GZIP_CSV_RESOURCES else "csv"
        folder = self.out_dir / resource
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{delivery}-{part:04d}.{ext}"

    def _copy(self, resource: str, source_sql: str, batch: int, part: int, order_by: str | None = None) -> int:
        """COPY the rows of `source_sql` (integer-encoded `resource` columns) to a delivery file."""
        exprs = ", ".join(f'{_select_expr(c, k, self.fmt)} AS "{c}"' for c, k in schema.RESOURCES[resource])
        query = f"SELECT {exprs} FROM ({source_sql}) AS src"
        if order_by:
            query += f" ORDER BY {order_by}"
        path = self._path(resource, batch, part)
        options = {"parquet": "FORMAT parquet, COMPRESSION zstd", "jsonl": "FORMAT json",
                   "csv": "FORMAT csv, HEADER true" + (", COMPRESSION gzip" if path.name.endswith(".gz") else "")}
        written = self.con.execute(f"COPY ({query}) TO '{path}' ({options[self.fmt]})").fetchall()[0][0]
        if written == 0:
            path.unlink()
            return 0
        self.rows[resource] += written
        self.files += 1
        self.bytes += path.stat().st_size
        return written

    # --- python row buffers ----------------------------------------------------------------------------

    def write_buffers(self, buffers: Buffers, part: int) -> None:
        for (resource, batch), rows in sorted(buffers.rows.items()):
            if rows:
                self._write_rows(resource, batch, part, rows)

    def _write_rows(self, resource: str, batch: int, part: int, rows: list[schema.Row]) -> None:
        spec = schema.RESOURCES[resource]
        columns = list(zip(*rows))
        table = pa.table({name: pa.array(columns[i], type=_ARROW_TYPES[kind]) for i, (name, kind) in enumerate(spec)})
        self.con.register("buffer_rows", table)
        try:
            self._copy(resource, "SELECT * FROM buffer_rows", batch, part)
        finally:
            self.con.unregister("buffer_rows")

    # --- daily revenue ---------------------------------------------------------------------------------

    def write_daily(self, lines: list[DailyLine], part: int, salt: int) -> None:
        """Expand `lines` into daily_line_item_revenue (+ _event) rows and write both batches of both."""
        if not lines:
            return
        table = pa.table({name: pa.array([getattr(line, name) for line in lines], type=kind)
                          for name, kind in _DAILY_LINE_TYPES.items()})
        self.con.register("daily_lines", table)
        try:
            self.con.execute(_expand_sql(salt))
        finally:
            self.con.unregister("daily_lines")
        cut = self.calendar.batch1_cut
        order = "_key, _di, _kind, _version"
        for batch in (1, 2):
            self._copy("daily_line_item_revenue", _revenue_versions_sql(cut, batch), batch, part, order)
        order = "_key, _di, _kind, is_revert"
        for batch in (1, 2):
            self._copy("daily_line_item_revenue_event", _revenue_events_sql(cut, batch), batch, part, order)
        self.con.execute("DROP TABLE daily_rows")


def _daily_line_types() -> dict[str, pa.DataType]:
    kinds = {"str": pa.string(), "str | None": pa.string(), "int": pa.int64(), "int | None": pa.int64(),
             "bool": pa.bool_()}
    return {f.name: kinds[str(f.type)] for f in fields(DailyLine)}


_DAILY_LINE_TYPES: Final = _daily_line_types()

_LADDER_MICRO: Final = ("quantity", "subtotal", "adjusted_subtotal", "credits_applied", "partially_invoiced_amount",
                        "amount")
_WEIGHT_SPREAD: Final = 121  # usage weights 40..160


def _weight(salt: int, multiplier: int) -> str:
    """A pseudo-random day weight from the line key and day number (integer arithmetic only)."""
    return (f"(40 + ((((_key % 2147483647) * {multiplier} + di * 16807 + {salt}) % 2147483647) "
            f"% {_WEIGHT_SPREAD}))")


def _split(alias: str, total: str, weight: str, weight_total: str, is_last: str) -> tuple[str, str]:
    """(per-day share, last-day remainder) expressions: floor shares, the last day takes the rest."""
    share = f"({total} * {weight} // {weight_total})"
    return share, f"CASE WHEN {is_last} THEN {total} - (sum({share}) OVER line - {share}) ELSE {share} END AS {alias}"


def _expand_sql(salt: int) -> str:
    first_cols = ["quantity", "subtotal", "adjusted_subtotal", "credits_applied", "partially_invoiced_amount",
                  "amount", "rounded_minor"]
    split_first = ",\n        ".join(_split(c, c, "w", "w_total", "di = last_di")[1] for c in first_cols)
    split_again = ",\n        ".join(
        _split(c, f"t_{c}", "w2", "w2_total", "di = last_di")[1] for c in first_cols)
    totals_again = ", ".join(f"sum({c}) OVER line AS t_{c}" for c in first_cols)
    keep = ("line_id, invoice_id, customer_id, subscription_id, price_id, item_id, invoicing_currency, "
            "pricing_currency, _key, first_day, conversion_rate, micro_per_minor, created_base, void_at, revise_at, "
            "revise_from")
    return f"""
CREATE OR REPLACE TEMP TABLE daily_rows AS
WITH days AS (
    SELECT *, line_key AS _key, unnest(range(n_days)) AS di FROM daily_lines
),
weighted AS (
    SELECT *, CASE WHEN even THEN 1 ELSE {_weight(salt, 48271)} END AS w FROM days
),
totals AS (
    SELECT *, sum(w) OVER line AS w_total, max(di) OVER line AS last_di
    FROM weighted WINDOW line AS (PARTITION BY _key)
),
first_split AS (
    SELECT {keep}, di, last_di,
        {split_first}
    FROM totals WINDOW line AS (PARTITION BY _key)
),
revised AS (
    SELECT *, {_weight(salt + 7, 69621)} AS w2 FROM first_split WHERE revise_at IS NOT NULL AND di >= revise_from
),
revised_totals AS (
    SELECT * EXCLUDE (last_di), {totals_again}, sum(w2) OVER line AS w2_total, max(di) OVER line AS last_di
    FROM revised WINDOW line AS (PARTITION BY _key)
),
second_split AS (
    SELECT {keep}, di,
        {split_again}
    FROM revised_totals WINDOW line AS (PARTITION BY _key)
),
originals AS (
    SELECT {keep}, di, {", ".join(first_cols)}, 0 AS _kind,
        'dlr_' || substr(md5(line_id || ':' || di), 1, 20) AS id,
        greatest(created_base, (first_day + di + 1) * {DAY} + 3 * 3600) AS created_at,
        CASE WHEN void_at IS NOT NULL THEN void_at
             WHEN revise_at IS NOT NULL AND di >= revise_from THEN revise_at END AS reverted_at
    FROM first_split
),
replacements AS (
    SELECT {keep}, di, {", ".join(first_cols)}, 1 AS _kind,
        'dlr_' || substr(md5(line_id || ':' || di || ':r'), 1, 20) AS id,
        revise_at AS created_at, CAST(NULL AS BIGINT) AS reverted_at
    FROM second_split
)
SELECT id, created_at, invoice_id, line_id AS invoice_line_item_id, customer_id, subscription_id, price_id, item_id,
    (first_day + di) * {DAY} AS timeframe_start, (first_day + di + 1) * {DAY} AS timeframe_end,
    {", ".join(_LADDER_MICRO)}, conversion_rate, rounded_minor * micro_per_minor AS rounded_amount,
    invoicing_currency, pricing_currency, reverted_at, _key, di AS _di, _kind
FROM (SELECT * FROM originals UNION ALL BY NAME SELECT * FROM replacements)
WHERE void_at IS NULL OR created_at < void_at
"""


def _revenue_versions_sql(cut: int, batch: int) -> str:
    """Row versions: every row as created (reverted_at null), and reverted rows again with reverted_at set."""
    first = (f"SELECT * REPLACE (CAST(NULL AS BIGINT) AS reverted_at), created_at AS updated_at, 0 AS _version "
             f"FROM daily_rows WHERE {'created_at <= ' if batch == 1 else 'created_at > '}{cut}")
    if batch == 1:
        return first
    return (f"{first} UNION ALL SELECT *, reverted_at AS updated_at, 1 AS _version FROM daily_rows "
            f"WHERE reverted_at IS NOT NULL")


def _revenue_events_sql(cut: int, batch: int) -> str:
    """One event per row (is_revert false) and one per revert (is_revert true), lock-adjusted."""
    events = f"""
        SELECT * EXCLUDE (reverted_at), 'dle_' || substr(md5(id || ':e'), 1, 20) AS event_id,
            created_at AS emitted_at, false AS is_revert FROM daily_rows
        UNION ALL
        SELECT * EXCLUDE (reverted_at), 'dle_' || substr(md5(id || ':r'), 1, 20) AS event_id,
            reverted_at AS emitted_at, true AS is_revert FROM daily_rows WHERE reverted_at IS NOT NULL
    """
    adjusted = f"""
        SELECT e.* EXCLUDE (id, event_id, created_at, emitted_at), e.event_id AS id, e.emitted_at AS created_at,
            e.emitted_at AS updated_at, e.timeframe_start AS "timestamp",
            CASE WHEN s.closed_through IS NOT NULL AND e.timeframe_start // {DAY} <= s.closed_through
                 THEN (s.closed_through + 1) * {DAY} ELSE e.timeframe_start END AS lock_adjusted_timestamp
        FROM ({events}) AS e ASOF LEFT JOIN lock_steps AS s ON e.emitted_at >= s.locked_at
    """
    if batch == 1:
        return f"SELECT * FROM ({adjusted}) WHERE created_at <= {cut}"
    duplicate = f"created_at <= {cut} AND NOT is_revert AND (_key + _di) % 97 = 0"
    return f"SELECT * FROM ({adjusted}) WHERE created_at > {cut} OR ({duplicate})"
