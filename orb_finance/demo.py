"""`orbfin demo` / `make demo`: the whole product on a sample, as the nightly runs it: a sample Orb export, the
warehouse built from it, a Beancount ledger synced from the warehouse, the books reconciled, the reports written;
then the headline numbers and where to look.

The sample ends on 2026-11-01 and AR aging is taken as of its last day, so the numbers are the same whatever day
the demo runs. The build reports in USD with the sample's rate file (consolidated_monthly). The ledger, the sync's
state and the reports live under build/demo/ and start afresh on every demo.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console

from . import nightly, paths
from .errors import OrbFinanceError
from .exports.fx_rates import REPORTING_CURRENCY
from .reports.bundle import SUMMARY_NAME, workbook_name
from .reports.headlines import currency_headlines, headline_table
from .tables import print_table

SAMPLE_END = date(2026, 11, 1)
AS_OF = SAMPLE_END - timedelta(days=1)
EXPORT_DIR = "build/sample-export"
DEMO_DIR = "build/demo"
SETTINGS = """\
# The demo's accounting sync (orbfin demo writes this file): a Beancount ledger beside it.
provider: beancount
state_path: sync_state.sqlite
beancount:
  ledger_path: ledger/orb.beancount
"""


def demo_paths() -> dict[str, Path]:
    root = paths.resolve(DEMO_DIR)
    folder = root / "reports" / AS_OF.isoformat()
    return {"root": root, "settings": root / "accounting_sync.yml", "ledger": root / "ledger" / "orb.beancount",
            "reports": root / "reports", "folder": folder, "summary": folder / SUMMARY_NAME,
            "workbook": folder / workbook_name(AS_OF), "csv": folder / "csv", "export": paths.resolve(EXPORT_DIR)}


def run(*, customers: int, months: int, seed: int, console: Console, err_console: Console, wide: bool = False) -> int:
    from .exports.generate import generate_sample

    where = demo_paths()
    summary = generate_sample(out_dir=where["export"], customers=customers, months=months, seed=seed, fmt="parquet",
                              end_date=SAMPLE_END, console=err_console)
    console.print(summary.render())

    # fresh books: the ledger and the sync's records of an earlier demo (maybe of another sample) go
    shutil.rmtree(where["root"], ignore_errors=True)
    where["root"].mkdir(parents=True)
    where["settings"].write_text(SETTINGS, encoding="utf-8")
    db_path = paths.duckdb_path()
    # the sample was just written again: stage every file (an incremental build would refuse rewritten files)
    result = nightly.run(where["export"], as_of=AS_OF, config=where["settings"], duckdb_path=db_path,
                         reports_dir=where["reports"], max_age_hours=0, full_refresh=True,
                         reporting_currency=REPORTING_CURRENCY, fx_rates=summary.fx_rates, console=err_console)
    print_table(console, result.table(), wide=wide)
    if result.exit_code != nightly.EXIT_OK:
        raise OrbFinanceError(result.closing_line())

    # wide enough for yen amounts even when stdout is not a terminal (rich then assumes 80 columns)
    print_table(console, headline_table(currency_headlines(db_path)), wide=wide)
    rel = lambda p: _relative(p)  # noqa: E731
    console.print("\n".join([
        f"Everything below was made from the sample export in {rel(where['export'])}, as of {AS_OF.isoformat()}:",
        f"  HTML summary   {rel(where['summary'])}   (open it in a browser)",
        f"  Workbook       {rel(where['workbook'])}   (its cover sheet first)",
        f"  CSV files      {rel(where['csv'])}/   (exact values, one file per mart)",
        f"  Ledger         {rel(where['ledger'])}   (Beancount; tied to the warehouse: the summary's 'Do the "
        "books tie?')",
        f"  Fava           .venv/bin/fava {rel(where['ledger'])}   then http://127.0.0.1:5000",
        f"  Warehouse      {rel(db_path)}   (DuckDB; reporting currency {REPORTING_CURRENCY})",
        f"  A query        .venv/bin/python -c \"import duckdb; print(duckdb.connect('{rel(db_path)}', "
        "read_only=True).sql('from marts.billings_monthly'))\"",
        "  dbt docs       make docs   (build/docs/static_index.html)",
    ]), markup=False, highlight=False, soft_wrap=True)
    return 0


def _relative(path: Path) -> str:
    """A path relative to the project (what a person types from the checkout), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(paths.PROJECT_ROOT))
    except ValueError:
        return str(path)
