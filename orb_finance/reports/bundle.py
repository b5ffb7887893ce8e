"""The dated report folder of a nightly run: `<reports dir>/<as-of>/` with the workbook, CSVs and HTML summary.

Owns the folder's layout and file names; each file is replaced whole (written beside, then renamed), and
every file depends only on the warehouse, the sync records and the as-of date, never on the clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .csv_export import write_atomic, write_csvs
from .display import display_marts
from .headlines import headlines_of
from .html import SyncSnapshot, render_summary
from .marts import read_marts, warehouse_facts
from .workbook import write_workbook

SUMMARY_NAME = "summary.html"
RECONCILE_NAME = "reconcile.csv"
CSV_DIR = "csv"


def workbook_name(as_of: dt.date) -> str:
    return f"orb-finance-{as_of.isoformat()}.xlsx"


@dataclass
class ReportFiles:
    folder: Path
    workbook: Path
    summary: Path
    csvs: list[Path]
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def paths(self) -> list[Path]:
        return [self.workbook, self.summary, *self.csvs]


def write_reports(db_path: Path, reports_dir: Path, as_of: dt.date, sync: SyncSnapshot | None,
                  reconcile=None, journals=None) -> ReportFiles:
    """reconcile: the books' tie-out (orb_finance.sync.reconcile.Report), or a one-line reason it did not run;
    journals: (month, [RevenueJournalPayload]) of the last ended month with warehouse revenue recognition."""
    folder = reports_dir / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    marts, minor_units = read_marts(db_path)
    shown = display_marts(marts, minor_units)          # what the workbook and the page show; the CSVs are exact
    headlines = headlines_of({m.name: m for m in marts}, minor_units)
    workbook = folder / workbook_name(as_of)
    notes = write_workbook(shown, minor_units, as_of, workbook, facts=warehouse_facts(db_path))
    csvs = write_csvs(marts, folder / CSV_DIR, minor_units)
    summary = folder / SUMMARY_NAME
    if reconcile is not None and not isinstance(reconcile, str):
        from ..sync.reconcile import write_csv as write_reconcile_csv

        path = folder / RECONCILE_NAME
        write_reconcile_csv(reconcile, path)
        csvs = [*csvs, path]
    listed = [workbook.name, *(f"{CSV_DIR}/{p.name}" if p.parent.name == CSV_DIR else p.name for p in csvs)]
    page = render_summary(as_of, {m.name: m for m in shown}, minor_units, headlines, sync, listed, reconcile,
                          journals)
    write_atomic(summary, page.encode("utf-8"))
    return ReportFiles(folder, workbook, summary, csvs, {m.name: len(m.rows) for m in marts}, notes)
