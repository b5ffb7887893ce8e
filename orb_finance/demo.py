"""`orbfin demo` / `make demo`: generate a sample Orb export, build the warehouse from it, show headlines.

The sample ends on 2026-11-01 and AR aging is taken as of its last day, so the numbers printed are the
same whatever day the demo runs. The build reports in USD with the sample's rate file (consolidated_monthly).
"""

from __future__ import annotations

from datetime import date, timedelta

from rich.console import Console

from . import paths, warehouse
from .errors import OrbFinanceError
from .exports.fx_rates import REPORTING_CURRENCY
from .reporting_currency import reporting_vars
from .reports.headlines import currency_headlines, headline_table, table_row_counts

SAMPLE_END = date(2026, 11, 1)


def run(*, customers: int, months: int, seed: int, console: Console, err_console: Console) -> int:
    from .exports.generate import generate_sample

    export_dir = paths.resolve("build/sample-export")
    db_path = paths.duckdb_path()
    summary = generate_sample(out_dir=export_dir, customers=customers, months=months, seed=seed, fmt="parquet",
                              end_date=SAMPLE_END, console=err_console)
    console.print(summary.render())

    as_of = (SAMPLE_END - timedelta(days=1)).isoformat()
    dbt_vars = reporting_vars(REPORTING_CURRENCY, summary.fx_rates)
    # the sample was just written again: stage every file (an incremental build would refuse rewritten files)
    result = warehouse.build(export_dir, db_path, as_of=as_of, console=err_console, dbt_vars=dbt_vars,
                             full_refresh=True)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts().items()))
    if not result.success:
        raise OrbFinanceError(f"dbt build failed ({counts}): {result.reason()}")
    console.print(f"dbt build: {counts} in {result.elapsed:.1f}s")

    # wide enough for yen amounts even when stdout is not a terminal (rich then assumes 80 columns)
    Console(file=console.file, width=max(console.width, 110)).print(headline_table(currency_headlines(db_path)))
    tables = table_row_counts(db_path)
    console.print(f"Warehouse: {db_path} ({len(tables)} tables in schemas staging and marts; AR as of {as_of}; "
                  f"reporting currency {REPORTING_CURRENCY}, rates {summary.fx_rates})")
    console.print(f"Export:    {export_dir}")
    console.print(f'Try:       .venv/bin/python -c "import duckdb; '
                  f"print(duckdb.connect('{db_path}', read_only=True).sql('from marts.billings_monthly'))\"")
    return 0
