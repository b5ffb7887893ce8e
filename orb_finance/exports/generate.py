"""`orbfin generate-sample`: write a realistic, deterministic sample Orb export directory (SPEC §2).

Owns the run: argument checks, the catalog, customers simulated in chunks (each customer from its own
seeded random stream, so the chunk size never changes the data), each chunk's files written and its
invoice lines expanded into daily revenue inside DuckDB, progress bars, and the summary (rows per
resource, files, seconds, peak RSS). Output depends only on the arguments, never on today's date.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import OrbFinanceError
from . import schema
from .buffers import Buffers
from .catalog import build_catalog
from . import deliveries
from .calendar import DAY, Calendar, date_of
from .emit import emit_customer
from .fx_rates import write_sample_rates
from .simulate import Context, simulate_customer
from .writer import DELIVERY_SUFFIXES, FORMATS, ExportWriter

DEFAULT_END_DATE: Final = dt.date(2026, 11, 1)
DEFAULT_CHUNK_SIZE: Final = 1000
LAYOUTS: Final = ("bulk", "daily")
MIN_MONTHS: Final = 2
MAX_MONTHS: Final = 120


@dataclass
class GenerationSummary:
    out_dir: Path
    fmt: str
    customers: int
    months: int
    seed: int
    end_date: dt.date
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    fx_rates: Path | None = None
    deliveries: str = "bulk"
    delivered: deliveries.DeliverySummary | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def render(self) -> RenderableType:
        table = Table(title=f"Sample Orb export in {self.out_dir}", title_justify="left")
        table.add_column("resource")
        table.add_column("rows", justify="right")
        for name in schema.RESOURCES:
            table.add_row(name, f"{self.rows.get(name, 0):,}")
        table.add_section()
        table.add_row("total", f"{self.total_rows:,}")
        footer = (
            f"{self.customers:,} customers x {self.months} months before {self.end_date.isoformat()}, seed "
            f"{self.seed}, {self.fmt}, {self.deliveries} deliveries: {self.files:,} files, {self.bytes / 1e6:,.1f} MB, "
            f"{self.seconds:,.1f} s, peak RSS {self.peak_rss_mb:,.0f} MB"
        )
        if self.fx_rates is not None:
            footer += f"\nsample rates for reporting currency USD: {self.fx_rates}"
        if self.delivered is not None:
            d = self.delivered
            footer += (f"\none file per resource per day, nights {d.nights[0].isoformat()} to {d.nights[-1].isoformat()} "
                       f"delivered; {d.remaining_nights} night(s) held back for --append-day")
        return Group(table, footer)


def generate_sample(
    out_dir: Path,
    customers: int = 200,
    months: int = 12,
    seed: int = 7,
    fmt: str = "parquet",
    end_date: str | dt.date | None = None,
    console: Console | None = None,
    *,
    chunk_size: int | None = None,
    layout: str = "bulk",
    hold_back_days: int = 0,
    orphan_credit_note_lines: bool = False,
) -> GenerationSummary:
    """Write the sample export into `out_dir` (one sub-directory per resource) and summarize it.

    layout "bulk": per resource one delivery the day before the end and one on the end date (the later one
    repeats rows with a newer updated_at). "daily": one file per resource per day (SPEC §2.3), the last
    `hold_back_days` nights kept aside for `append_day` (orb_finance/exports/deliveries.py).
    `orphan_credit_note_lines`: two credit-note lines name an invoice line that is not in the export (what dbt's
    relationships test on stg_orb__credit_note_line_item warns about); by default no line does.
    """
    end = _check_arguments(customers, months, fmt, end_date, chunk_size)
    if layout not in LAYOUTS:
        raise OrbFinanceError(f"--deliveries must be one of {', '.join(LAYOUTS)} (got {layout!r})")
    if hold_back_days < 0 or (hold_back_days and layout != "daily"):
        raise OrbFinanceError("--hold-back-days needs --deliveries daily and a number of nights, 0 or more")
    daily = layout == "daily"
    out_dir = Path(out_dir)
    _prepare(out_dir)
    started = time.monotonic()
    calendar = Calendar(end, months)
    catalog_rows = Buffers(calendar, daily=daily)
    catalog = build_catalog(calendar, seed, catalog_rows)
    ctx = Context(calendar, catalog, seed, orphan_credit_note_lines)
    size = chunk_size or DEFAULT_CHUNK_SIZE
    starts = list(range(0, customers, size))
    salt = seed % 1_000_003
    writer = ExportWriter(out_dir, fmt, calendar, catalog.lock_book, daily_seed=seed if daily else None)
    try:
        with _progress(console) as progress, ThreadPoolExecutor(1, thread_name_prefix="orb-export") as pool:
            tasks = _tasks(progress, customers, len(starts))
            writer.write_chunk(catalog_rows, salt)
            _advance(progress, tasks, "catalog")
            # DuckDB writes chunk k in the background (it releases the GIL) while chunk k+1 is simulated.
            writing: Future[None] | None = None
            for first in starts:
                chunk = Buffers(calendar, daily=daily)
                for index in range(first, min(first + size, customers)):
                    emit_customer(ctx, simulate_customer(ctx, index), chunk)
                    _advance(progress, tasks, "customers")
                if writing is not None:
                    writing.result()
                    _advance(progress, tasks, "files")
                writing = pool.submit(writer.write_chunk, chunk, salt)
                del chunk
            if writing is not None:
                writing.result()
                _advance(progress, tasks, "files")
            nights = writer.finish(deliveries.holding_dir(out_dir) / "pending" if daily else None)
    finally:
        writer.close()
    fx_rates = write_sample_rates(out_dir, date_of(calendar.month_start[0] // DAY), end, seed)
    summary = GenerationSummary(
        out_dir=out_dir, fmt=fmt, customers=customers, months=months, seed=seed, end_date=end,
        rows={name: writer.rows.get(name, 0) for name in schema.RESOURCES}, files=writer.files, bytes=writer.bytes,
        deliveries=layout, fx_rates=fx_rates,
    )
    if daily:
        args = {"customers": customers, "months": months, "seed": seed, "format": fmt, "end_date": end.isoformat(),
                "orphan_credit_note_lines": orphan_credit_note_lines}
        summary.delivered = deliveries.start(out_dir, nights, args, hold_back_days)
        summary.files, summary.bytes = sum(summary.delivered.files.values()), summary.delivered.bytes
    summary.seconds, summary.peak_rss_mb = time.monotonic() - started, peak_rss_mb()
    return summary


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_arguments(customers: int, months: int, fmt: str, end_date: str | dt.date | None,
                     chunk_size: int | None) -> dt.date:
    if customers < 1:
        raise OrbFinanceError(f"--customers must be at least 1 (got {customers})")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise OrbFinanceError(f"--months must be between {MIN_MONTHS} and {MAX_MONTHS} (got {months})")
    if fmt not in FORMATS:
        raise OrbFinanceError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if chunk_size is not None and chunk_size < 1:
        raise OrbFinanceError(f"chunk size must be at least 1 (got {chunk_size})")
    if end_date is None:
        return DEFAULT_END_DATE
    if isinstance(end_date, dt.datetime):
        end_date = end_date.date()
    if isinstance(end_date, str):
        try:
            end_date = dt.date.fromisoformat(end_date)
        except ValueError as exc:
            raise OrbFinanceError(f"--end-date must be a date YYYY-MM-DD (got {end_date!r})") from exc
    if end_date.day != 1:
        raise OrbFinanceError(f"--end-date must be the first day of a month (got {end_date.isoformat()})")
    return end_date


def _prepare(out_dir: Path) -> None:
    """Create `out_dir`; remove delivery files (and a daily sample's holding folder) a previous run left."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OrbFinanceError(f"{out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    deliveries.remove(out_dir)
    for name in schema.RESOURCES:
        folder = out_dir / name
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file() and path.name.endswith(DELIVERY_SUFFIXES):
                    path.unlink()


def _progress(console: Console | None) -> AbstractContextManager[Progress | None]:
    if console is None:
        return nullcontext(None)
    return Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def _tasks(progress: Progress | None, customers: int, chunks: int) -> dict[str, TaskID]:
    if progress is None:
        return {}
    return {
        "catalog": progress.add_task("catalog and period locks", total=1),
        "customers": progress.add_task("simulating customers", total=customers),
        "files": progress.add_task("daily revenue and files", total=chunks),
    }


def _advance(progress: Progress | None, tasks: dict[str, TaskID], name: str) -> None:
    if progress is not None:
        progress.advance(tasks[name])
