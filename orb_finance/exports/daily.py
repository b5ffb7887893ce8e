"""The daily delivery layout (`--deliveries daily`): per resource one file per day, as Orb delivers (SPEC §2.3).

Owns where each row lands: rows accumulate in DuckDB with the instant they are delivered at (their updated_at;
a re-sent row one delivery later), a row never arrives before the rows it refers to (a line before its invoice),
a day's file holds what changed in the 24 hours up to its 06:00 UTC cut (`YYYY-MM-DD-0000`), some days come in
two batches (`-0001`: what changed after midnight), and some nights re-deliver an earlier day's file (a late
re-delivery, its name sorting before the newest). Every file is written to a holding folder with the night it is
delivered on (orb_finance/exports/deliveries.py moves them into the export).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from .. import paths
from . import schema
from .buffers import Delivered
from .calendar import DAY, HOUR, Calendar, date_of

CUT: Final = 6 * HOUR             # a day's delivery holds what changed up to 06:00 UTC that day
SECOND_BATCH_EVERY: Final = 5     # one day in five comes in two batches
REDELIVERY_EVERY: Final = 4       # one night in four also re-delivers an earlier day's file ...
REDELIVERY_LAG: Final = 3         # ... of three days before
REDELIVERED: Final = ("customer", "invoice_metadata", "daily_line_item_revenue", "daily_line_item_revenue_event")

# A row arrives no earlier than the row it refers to (the staging relationships tests): child, column, parent.
REFERENCES: Final = (
    ("invoice_metadata", "customer_id", "customer"),
    ("invoice_line_item_billing", "invoice_id", "invoice_metadata"),
    ("invoice_line_item_billing_event", "invoice_line_item_id", "invoice_line_item_billing"),
    ("daily_line_item_revenue", "invoice_id", "invoice_metadata"),
    ("daily_line_item_revenue", "customer_id", "customer"),
    ("daily_line_item_revenue_event", "invoice_id", "invoice_metadata"),
    ("credit_ledger_entry", "customer_id", "customer"),
    ("credit_ledger_entry", "invoice_id", "invoice_metadata"),
    ("credit_ledger_entry_event", "credit_ledger_entry_id", "credit_ledger_entry"),
    ("credit_note", "invoice_id", "invoice_metadata"),
    ("credit_note_line_item", "credit_note_id", "credit_note"),
    ("credit_note_line_item", "invoice_line_item_id", "invoice_line_item_billing"),
    ("credit_note_line_item_event", "credit_note_line_item_id", "credit_note_line_item"),
    ("customer_balance_transaction", "customer_id", "customer"),
    ("customer_balance_transaction", "invoice_id", "invoice_metadata"),
    ("payment_attempt", "invoice_id", "invoice_metadata"),
    ("subscription", "customer_id", "customer"),
    ("subscription", "plan_id", "plan"),
    ("subscription_version", "subscription_id", "subscription"),
    ("price", "plan_id", "plan"),
    ("price", "item_id", "item"),
    ("price_interval", "subscription_id", "subscription"),
    ("price_interval", "price_id", "price"),
    ("coupon_redemption", "coupon_id", "coupon"),
    ("coupon_redemption", "adjustment_id", "adjustment"),
    ("adjustment_interval", "adjustment_id", "adjustment"),
    ("billable_metric", "item_id", "item"),
)

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "str": pa.string(), "json": pa.string(), "ts": pa.int64(), "date": pa.int64(), "dec": pa.int64(),
    "int": pa.int64(), "bool": pa.bool_(),
}


def delivery_day(at: int) -> int:
    """The epoch day of the delivery that carries a change made at instant `at` (its 06:00 UTC cut)."""
    return (at - CUT - 1) // DAY + 1


def file_stem(day: int, part: int) -> str:
    return f"{date_of(day).isoformat()}-{part:04d}"


def second_batch_day(day: int, seed: int) -> bool:
    return (day * 7 + seed) % SECOND_BATCH_EVERY == 0


def redelivery_night(day: int, seed: int) -> bool:
    return (day * 3 + seed) % REDELIVERY_EVERY == 0


class DailyLayout:
    """Accumulates every row of the export with its delivery instant; lays them out and writes the files."""

    def __init__(self, con: duckdb.DuckDBPyConnection, calendar: Calendar, seed: int) -> None:
        self.con, self.calendar, self.seed = con, calendar, seed
        self.last_day = delivery_day(calendar.now)
        self._next_seq: Counter[str] = Counter()
        self._created: set[str] = set()

    def _table(self, resource: str) -> str:
        name = f"acc_{resource}"
        if resource not in self._created:
            cols = ", ".join(f'"{c}" {_SQL_TYPES[k]}' for c, k in schema.RESOURCES[resource])
            self.con.execute(f"CREATE TABLE {name} ({cols}, _at BIGINT, _resent BOOLEAN, _seq BIGINT)")
            self._created.add(resource)
        return name

    def add_rows(self, resource: str, rows: list[Delivered]) -> None:
        """Rows built in Python, in the order they were emitted."""
        if not rows:
            return
        spec = schema.RESOURCES[resource]
        columns = list(zip(*(d.row for d in rows)))
        data = {name: pa.array(columns[i], type=_ARROW_TYPES[kind]) for i, (name, kind) in enumerate(spec)}
        start = self._next_seq[resource]
        data["_at"] = pa.array([d.at for d in rows], type=pa.int64())
        data["_resent"] = pa.array([d.resent for d in rows], type=pa.bool_())
        data["_seq"] = pa.array(range(start, start + len(rows)), type=pa.int64())
        self._next_seq[resource] += len(rows)
        table = self._table(resource)
        self.con.register("delivered_rows", pa.table(data))
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM delivered_rows")
        finally:
            self.con.unregister("delivered_rows")

    def add_query(self, resource: str, sql: str) -> None:
        """Rows of a query with the resource's columns plus `_at` and `_resent` (ordered by id and updated_at: a total,
        reproducible order)."""
        table = self._table(resource)
        cols = ", ".join(f'"{c}"' for c, _ in schema.RESOURCES[resource])
        start = self._next_seq[resource]
        self.con.execute(f"""INSERT INTO {table}
            SELECT {cols}, _at, _resent, {start} + row_number() OVER (ORDER BY id, updated_at, _resent) - 1
            FROM ({sql}) AS q""")
        self._next_seq[resource] = self.con.execute(f"SELECT coalesce(max(_seq), -1) + 1 FROM {table}").fetchall()[0][0]

    # --- the layout ------------------------------------------------------------------------------------

    def lay_out(self) -> None:
        """Give every row its day and batch: `_day`, `_part`."""
        for resource in sorted(self._created):
            self.con.execute(f"""ALTER TABLE acc_{resource} ADD COLUMN _day BIGINT;
                UPDATE acc_{resource} SET _day = least((_at - {CUT} - 1) // {DAY} + 1 + CAST(_resent AS INTEGER),
                                                       {self.last_day})""")
        # a row never arrives before what it refers to (repeat: a moved invoice may move its lines' events)
        for _ in range(10):
            moved = 0
            for child, column, parent in REFERENCES:
                if child not in self._created or parent not in self._created:
                    continue
                moved += self.con.execute(f"""UPDATE acc_{child} SET _day = first._day
                    FROM (SELECT id, min(_day) AS _day FROM acc_{parent} GROUP BY id) AS first
                    WHERE acc_{child}."{column}" = first.id AND acc_{child}._day < first._day""").fetchall()[0][0]
            if moved == 0:
                break
        seed = self.seed
        for resource in sorted(self._created):
            self.con.execute(f"""ALTER TABLE acc_{resource} ADD COLUMN _part INTEGER;
                UPDATE acc_{resource} SET _part = CASE
                    WHEN (_day * 7 + {seed}) % {SECOND_BATCH_EVERY} = 0 AND NOT _resent
                         AND _at > _day * {DAY} AND _at <= _day * {DAY} + {CUT} THEN 1 ELSE 0 END""")

    def write(self, pending: Path, fmt: str, select_expr) -> dict[int, list[str]]:
        """Write every file under `pending/<resource>/`; returns {night: [resource/file name, ...]}.

        Each resource is converted to its file types and sorted by day, batch and emission order once (DuckDB's
        sort spills to disk); then every file is one single-threaded COPY of its rows in that order, two
        resources at a time, so the bytes are reproducible."""
        nights: dict[int, list[str]] = defaultdict(list)
        self.rows: Counter[str] = Counter({r: self.con.execute(f"SELECT count(*) FROM acc_{r}").fetchall()[0][0]
                                           for r in self._created})
        pending.mkdir(parents=True, exist_ok=True)
        largest_first = sorted(self._created, key=lambda r: (-self.rows[r], r))
        for resource in largest_first:
            exprs = ", ".join(f'{select_expr(c, k, fmt)} AS "{c}"' for c, k in schema.RESOURCES[resource])
            self.con.execute(f"""CREATE TABLE sorted_{resource} AS SELECT {exprs}, _day, _part, _seq
                FROM acc_{resource} ORDER BY _day, _part, _seq;
                DROP TABLE acc_{resource}""")
        self.con.execute("SET threads = 1")
        try:
            with ThreadPoolExecutor(2, thread_name_prefix="orb-daily") as pool:
                written = dict(zip(largest_first, pool.map(lambda r: self._write_resource(r, pending, fmt),
                                                           largest_first)))
        finally:
            self.con.execute("SET threads = 2")
        for resource in sorted(written):
            for name in written[resource]:
                nights[_night_of(name)].append(f"{resource}/{name}")
        for night in range(min(nights), self.last_day + 1):
            if not redelivery_night(night, self.seed):
                continue
            for resource in REDELIVERED:
                again = self._redeliver(pending / resource, night - REDELIVERY_LAG)
                if again:
                    nights[night].append(f"{resource}/{again}")
        return dict(nights)

    def _write_resource(self, resource: str, pending: Path, fmt: str) -> list[str]:
        folder = pending / resource
        folder.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(f'"{c}"' for c, _ in schema.RESOURCES[resource])
        ext = _extension(resource, fmt)
        options = {"parquet": "FORMAT parquet, COMPRESSION zstd", "jsonl": "FORMAT json",
                   "csv": "FORMAT csv, HEADER true" + (", COMPRESSION gzip" if ext == "csv.gz" else "")}[fmt]
        table = f"sorted_{resource}"
        cur = self.con.cursor()
        names = []
        try:
            for day, part in cur.execute(f"SELECT DISTINCT _day, _part FROM {table} ORDER BY 1, 2").fetchall():
                name = f"{file_stem(day, part)}.{ext}"
                cur.execute(f"""COPY (SELECT {columns} FROM {table} WHERE _day = {day} AND _part = {part} ORDER BY _seq)
                    TO {paths.sql_string(folder / name)} ({options})""")
                names.append(name)
            cur.execute(f"DROP TABLE {table}")
        finally:
            cur.close()
        return names

    def _redeliver(self, folder: Path, day: int) -> str | None:
        """Copy the first batch of `day` as the next batch of that day (a late re-delivery)."""
        first = sorted(folder.glob(f"{file_stem(day, 0)}.*"))
        if not first:
            return None
        ext = first[0].name.split(".", 1)[1]
        part = 1
        while any(folder.glob(f"{file_stem(day, part)}.*")):
            part += 1
        name = f"{file_stem(day, part)}.{ext}"
        shutil.copyfile(first[0], folder / name)
        return name


def _night_of(name: str) -> int:
    """The night a day's own file is delivered on: its day."""
    import datetime as dt

    return (dt.date.fromisoformat(name[:10]) - dt.date(1970, 1, 1)).days


def _extension(resource: str, fmt: str) -> str:
    if fmt == "csv":
        return "csv.gz" if resource in schema.GZIP_CSV_RESOURCES else "csv"
    return fmt


_SQL_TYPES: Final[dict[str, str]] = {
    "str": "VARCHAR", "json": "VARCHAR", "ts": "BIGINT", "date": "BIGINT", "dec": "BIGINT", "int": "BIGINT",
    "bool": "BOOLEAN",
}
