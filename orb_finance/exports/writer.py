"""Writing delivery files with DuckDB: row buffers and the daily revenue expansion, in parquet, csv or jsonl.

Owns the bulk file layout (`<out>/<resource>/<delivery date>-<part>.<ext>`; the daily layout is daily.py's,
fed from here), the conversion of the integer
encoding of `schema` into file types (DECIMAL(18,6), TIMESTAMP, DATE; in jsonl money as strings like
"12.340000" and timestamps as ISO-8601 with Z), and the SQL that expands invoice lines into one revenue row
per UTC day: integer arithmetic in micro/minor units, pseudo-random day weights from the line key and day
number, the remainder on the last day, backdated replacements, reverts and their `_event` rows.
"""

from __future__ import annotations

import tempfile
import typing
from collections import Counter
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from .. import paths
from . import schema
from .buffers import Buffers, DailyLine
from .calendar import DAY, Calendar, LockBook
from .daily import DailyLayout

FORMATS: Final = ("parquet", "csv", "jsonl")
DELIVERY_SUFFIXES: Final = (".parquet", ".csv", ".csv.gz", ".jsonl")
FLUSH_ROWS: Final = 100_000   # rows of one resource and batch held in memory before they are written

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
                 memory_limit: str = "400MB", daily_seed: int | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out_dir, self.fmt, self.calendar = out_dir, fmt, calendar
        self.rows: Counter[str] = Counter()
        self.files = 0
        self.bytes = 0
        self._spill = tempfile.TemporaryDirectory(prefix="orb-export-")   # where DuckDB spills past the limit
        # the daily layout keeps every row until the end: in a database file there, not in memory
        self.con = duckdb.connect(f"{self._spill.name}/layout.duckdb" if daily_seed is not None else ":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET threads = {threads}")
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = {paths.sql_string(self._spill.name)}")
        self.con.execute("SET preserve_insertion_order = true")
        self.lock_steps = locks.steps()
        self._pending: dict[tuple[str, int], list[schema.Row]] = {}
        self._parts: dict[tuple[str, int], int] = {}
        self._daily_part = 0
        # the daily layout (`--deliveries daily`): rows accumulate here and are laid out at the end
        self.layout = DailyLayout(self.con, calendar, daily_seed) if daily_seed is not None else None

    def close(self) -> None:
        self.con.close()
        self._spill.cleanup()

    # --- files -----------------------------------------------------------------------------------------

    def _path(self, resource: str, batch: int, part: int) -> Path:
        delivery = self.calendar.delivery_names()[batch - 1]
        ext = {"parquet": "parquet", "jsonl": "jsonl"}.get(self.fmt)
        if ext is None:
            ext = "csv.gz" if resource in schema.GZIP_CSV_RESOURCES else "csv"
        folder = self.out_dir / resource
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{delivery}-{part:04d}.{ext}"

    def _copy(self, resource: str, source_sql: str, batch: int, part: int) -> int:
        """COPY the rows of `source_sql` (integer-encoded `resource` columns) to a delivery file."""
        exprs = ", ".join(f'{_select_expr(c, k, self.fmt)} AS "{c}"' for c, k in schema.RESOURCES[resource])
        query = f"SELECT {exprs} FROM ({source_sql}) AS src"
        path = self._path(resource, batch, part)
        options = {"parquet": "FORMAT parquet, COMPRESSION zstd", "jsonl": "FORMAT json",
                   "csv": "FORMAT csv, HEADER true" + (", COMPRESSION gzip" if path.name.endswith(".gz") else "")}
        written = self.con.execute(f"COPY ({query}) TO {paths.sql_string(path)} ({options[self.fmt]})").fetchall()[0][0]
        if written == 0:
            path.unlink()
            return 0
        self.rows[resource] += written
        self.files += 1
        self.bytes += path.stat().st_size
        return written

    # --- chunks ----------------------------------------------------------------------------------------

    def write_chunk(self, buffers: Buffers, salt: int) -> None:
        """Take a chunk's rows: row resources wait until FLUSH_ROWS of them pile up (few, large files); the
        chunk's invoice lines are expanded into daily revenue and written at once (one part per chunk). In the
        daily layout every row goes to the layout's tables instead."""
        if self.layout is not None:
            for resource, delivered in sorted(buffers.delivered.items()):
                self.layout.add_rows(resource, delivered)
        for key, rows in sorted(buffers.rows.items()):
            pending = self._pending.setdefault(key, [])
            pending.extend(rows)
            if len(pending) >= FLUSH_ROWS:
                self._flush(key)
        if buffers.daily_lines:
            self.write_daily(buffers.daily_lines, self._daily_part, salt)
            self._daily_part += 1

    def finish(self, pending: Path | None = None) -> dict[int, list[str]]:
        """Write every row still waiting. Daily layout: write every file under `pending` and return the night
        each is delivered on ({epoch day: [resource/file name, ...]})."""
        for key in sorted(self._pending):
            self._flush(key)
        if self.layout is None:
            return {}
        assert pending is not None
        self.layout.lay_out()
        nights = self.layout.write(pending, self.fmt, _select_expr)
        self.rows = Counter(self.layout.rows)
        return nights

    def _flush(self, key: tuple[str, int]) -> None:
        rows = self._pending.pop(key, [])
        if rows:
            part = self._parts.get(key, 0)
            self._parts[key] = part + 1
            self._write_rows(key[0], key[1], part, rows)

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
        columns = list(zip(*lines))
        table = pa.table({name: pa.array(columns[i], type=kind)
                          for i, (name, kind) in enumerate(_DAILY_LINE_TYPES.items())})
        self.con.register("daily_lines", table)
        try:
            self.con.execute(_daily_rows_sql(salt))   # materialized once, read by the four files below
        finally:
            self.con.unregister("daily_lines")
        try:
            cut = self.calendar.batch1_cut
            if self.layout is not None:
                self.layout.add_query("daily_line_item_revenue", _revenue_versions_daily_sql())
                self.layout.add_query("daily_line_item_revenue_event", _revenue_events_daily_sql(cut, self.lock_steps))
                return
            for batch in (1, 2):
                self._copy("daily_line_item_revenue", _revenue_versions_sql(cut, batch), batch, part)
            for batch in (1, 2):
                self._copy("daily_line_item_revenue_event", _revenue_events_sql(cut, batch, self.lock_steps), batch,
                           part)
        finally:
            self.con.execute("DROP TABLE IF EXISTS daily_rows")


def _daily_line_types() -> dict[str, pa.DataType]:
    """Arrow types of the DailyLine fields (str -> string, int -> int64, bool -> bool; optional or not)."""
    arrow = {str: pa.string(), int: pa.int64(), bool: pa.bool_()}
    out = {}
    for name, hint in typing.get_type_hints(DailyLine).items():
        base = next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
        out[name] = arrow[base]
    return out


_DAILY_LINE_TYPES: Final = _daily_line_types()

_LADDER: Final = ("quantity", "subtotal", "adjusted_subtotal", "credits_applied", "partially_invoiced_amount",
                  "amount", "rounded_minor")
# Day weights come from a cumulative function c(d) = STEP * d + jitter(d), jitter in [0, JITTER) and 0 at both
# ends of the period, so c(0) = 0 and c(n) = STEP * n = W exactly. Day d gets floor(X * c(d+1) / W) -
# floor(X * c(d) / W): the days of a line sum exactly to X (the sum telescopes), with no window function,
# join or sort: the expansion streams. Fixed fees (`even`) have no jitter: equal days to the minor unit.
_STEP: Final = 16
_JITTER: Final = 12


def _cumulative(day: str, n_days: str, salt: int, multiplier: int, *, even_aware: bool) -> str:
    even = "even OR " if even_aware else ""
    jitter = (f"CASE WHEN {even}{day} <= 0 OR {day} >= {n_days} THEN 0 ELSE "
              f"(((line_key % 2147483647) * {multiplier} + ({day}) * 16807 + {salt}) % 2147483647) % {_JITTER} END")
    return f"({_STEP} * ({day}) + {jitter})"


def _daily_value(column: str) -> str:
    """The day's share of a line column: the first split, or for a replacement row the re-split of what the
    reverted days held (X - floor(X * c(revise_from) / W), again a telescoping sum)."""
    first = f"{column} * c1 // w - {column} * c0 // w"
    held = f"({column} - {column} * c_rf // w)"
    again = f"{held} * r1 // rw - {held} * r0 // rw"
    return f"CASE WHEN is_repl THEN {again} ELSE {first} END"


def _daily_rows_sql(salt: int) -> str:
    """A table of every daily revenue row of `daily_lines`: the rows as first created (reverted_at set when a
    void or a backdated change undid them) and the replacement rows of backdated changes."""
    values = ",\n        ".join(
        f"{_daily_value(c)} AS {c}" for c in _LADDER if c != "rounded_minor")
    return f"""
CREATE OR REPLACE TEMP TABLE daily_rows AS
WITH expanded AS (
    SELECT *, unnest(range(n_days + coalesce(n_days - revise_from, 0))) AS j FROM daily_lines
),
placed AS (
    SELECT *, j >= n_days AS is_repl, CASE WHEN j < n_days THEN j ELSE revise_from + j - n_days END AS di
    FROM expanded
),
weighted AS (
    SELECT *,
        {_cumulative("di", "n_days", salt, 48271, even_aware=True)} AS c0,
        {_cumulative("di + 1", "n_days", salt, 48271, even_aware=True)} AS c1,
        {_cumulative("revise_from", "n_days", salt, 48271, even_aware=True)} AS c_rf,
        {_STEP} * n_days AS w,
        {_cumulative("di - revise_from", "n_days - revise_from", salt + 7, 69621, even_aware=False)} AS r0,
        {_cumulative("di - revise_from + 1", "n_days - revise_from", salt + 7, 69621, even_aware=False)} AS r1,
        {_STEP} * (n_days - revise_from) AS rw
    FROM placed
),
rows AS (
    SELECT
        'dlr_' || substr(line_id, 5) || CASE WHEN is_repl THEN 'R' ELSE 'D' END || to_base(di, 36, 2) AS id,
        CASE WHEN is_repl THEN revise_at
             ELSE greatest(created_base, (first_day + di + 1) * {DAY} + 3 * 3600) END AS created_at,
        invoice_id, line_id AS invoice_line_item_id, customer_id, subscription_id, price_id, item_id,
        (first_day + di) * {DAY} AS timeframe_start, (first_day + di + 1) * {DAY} AS timeframe_end,
        {values},
        conversion_rate,
        ({_daily_value("rounded_minor")}) * micro_per_minor AS rounded_amount,
        invoicing_currency, pricing_currency,
        CASE WHEN is_repl THEN NULL WHEN void_at IS NOT NULL THEN void_at
             WHEN revise_at IS NOT NULL AND di >= revise_from THEN revise_at END AS reverted_at,
        line_key, di, void_at
    FROM weighted
)
SELECT * EXCLUDE (void_at) FROM rows WHERE void_at IS NULL OR created_at < void_at
"""


def _revenue_versions_sql(cut: int, batch: int) -> str:
    """Row versions: every row as created (reverted_at null) in the batch of its created_at and, for reverted
    rows, the version with reverted_at set (newer updated_at), which always goes to the later delivery."""
    as_created = ("SELECT * REPLACE (CAST(NULL AS BIGINT) AS reverted_at), created_at AS updated_at FROM daily_rows "
                  f"WHERE created_at {'<=' if batch == 1 else '>'} {cut}")
    if batch == 1:
        return as_created
    return f"{as_created} UNION ALL SELECT *, reverted_at AS updated_at FROM daily_rows WHERE reverted_at IS NOT NULL"


def _revenue_versions_daily_sql() -> str:
    """Daily layout: every row as created, delivered then; reverted rows again with reverted_at set, delivered then."""
    return ("SELECT * REPLACE (CAST(NULL AS BIGINT) AS reverted_at), created_at AS updated_at, created_at AS _at, "
            "false AS _resent FROM daily_rows UNION ALL "
            "SELECT *, reverted_at AS updated_at, reverted_at AS _at, false AS _resent FROM daily_rows "
            "WHERE reverted_at IS NOT NULL")


def _closed_through(instant: str, steps: list[tuple[int, int]]) -> str:
    """The last closed day at `instant` (null before the first close), from the lock steps."""
    if not steps:
        return "CAST(NULL AS BIGINT)"
    whens = " ".join(f"WHEN {instant} >= {locked_at} THEN {closed}" for locked_at, closed in reversed(steps))
    return f"(CASE {whens} END)"


def _revenue_events_sql(cut: int, batch: int, steps: list[tuple[int, int]]) -> str:
    """One event per row (is_revert false, when the row was created) and one per revert (is_revert true, when
    it was reverted), recognized on the row's day and lock-adjusted at the instant it was emitted. The later
    delivery also repeats about 1 % of the earlier events, unchanged (exact duplicates)."""
    if batch == 1:
        originals, reverts = f"created_at <= {cut}", f"reverted_at <= {cut}"
    else:
        originals, reverts = f"created_at > {cut} OR {_DUPLICATED}", f"reverted_at > {cut}"
    return _lock_adjusted(_events(originals, reverts), steps)


def _revenue_events_daily_sql(cut: int, steps: list[tuple[int, int]]) -> str:
    """Daily layout: the same events, each delivered when it was emitted; the repeated ones (those the bulk
    layout repeats in its later delivery) sent again one delivery later."""
    resent = f"SELECT * EXCLUDE (id, reverted_at), 'dle_' || substr(id, 5) || 'E' AS id, false AS is_revert, " \
             f"true AS _resent FROM daily_rows WHERE created_at <= {cut} AND {_DUPLICATED}"
    events = f"{_events('true', 'true', ', false AS _resent')} UNION ALL BY NAME {resent}"
    return f"SELECT *, created_at AS _at FROM ({_lock_adjusted(events, steps)})"


_DUPLICATED: Final = "(line_key + di) % 97 = 0"


def _events(originals: str, reverts: str, extra: str = "") -> str:
    return f"""
        SELECT * EXCLUDE (id, reverted_at), 'dle_' || substr(id, 5) || 'E' AS id, false AS is_revert{extra}
        FROM daily_rows WHERE {originals}
        UNION ALL BY NAME
        SELECT * EXCLUDE (id, created_at, reverted_at), 'dle_' || substr(id, 5) || 'V' AS id,
            reverted_at AS created_at, true AS is_revert{extra}
        FROM daily_rows WHERE reverted_at IS NOT NULL AND {reverts}"""


def _lock_adjusted(events: str, steps: list[tuple[int, int]]) -> str:
    return f"""
        SELECT *, created_at AS updated_at, timeframe_start AS "timestamp",
            CASE WHEN closed IS NOT NULL AND timeframe_start // {DAY} <= closed THEN (closed + 1) * {DAY}
                 ELSE timeframe_start END AS lock_adjusted_timestamp
        FROM (SELECT *, {_closed_through("created_at", steps)} AS closed FROM ({events}))"""
