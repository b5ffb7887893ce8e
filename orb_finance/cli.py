"""The `orbfin` command line: parses arguments, calls the module that owns the job, prints the result.

No logic lives here. Problems a user can fix (OrbFinanceError) print as one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from . import paths
from .errors import OrbFinanceError

console = Console()
err_console = Console(stderr=True)


def _cmd_generate_sample(args: argparse.Namespace) -> int:
    from .exports.generate import generate_sample

    summary = generate_sample(
        out_dir=paths.resolve(args.out), customers=args.customers, months=args.months, seed=args.seed,
        fmt=args.format, end_date=args.end_date, console=err_console,
    )
    console.print(summary.render())
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from . import warehouse

    result = warehouse.build(args.export_dir, args.duckdb_path, as_of=args.as_of, select=args.select, console=err_console)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts().items()))
    if not result.success:
        raise OrbFinanceError(f"dbt build failed after {result.elapsed:.1f}s ({counts}): {result.reason()}")
    console.print(f"dbt build OK in {result.elapsed:.1f}s ({counts}); warehouse: {result.duckdb_path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(customers=args.customers, months=args.months, seed=args.seed, console=console, err_console=err_console)


def _cmd_docs(args: argparse.Namespace) -> int:
    from . import warehouse

    result = warehouse.run_dbt(["docs", "generate", "--static"], export_dir=args.export_dir, duckdb_path=args.duckdb_path,
                               console=err_console)
    if not result.success:
        raise OrbFinanceError(f"dbt docs generate failed: {result.reason()}")
    console.print(f"dbt docs: {paths.PROJECT_ROOT / 'target' / 'static_index.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orbfin", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate-sample", help="write a realistic, deterministic sample Orb export")
    p.add_argument("--out", required=True, help="directory to write (one sub-directory per resource)")
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    p.add_argument("--end-date", default=None, help="first day after the exported history (default 2026-11-01)")
    p.set_defaults(func=_cmd_generate_sample)

    p = sub.add_parser("build", help="dbt build the warehouse from an export directory")
    p.add_argument("--export-dir", default=None, help="the Orb export (default: $ORB_EXPORT_PATH)")
    p.add_argument("--duckdb-path", default=None, help=f"warehouse file (default: $ORB_DUCKDB_PATH or {paths.DEFAULT_DUCKDB_PATH})")
    p.add_argument("--as-of", default=None, help="AR aging as-of date, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--select", nargs="+", default=None, help="dbt selection")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("demo", help="generate a sample export, build the warehouse, print headline numbers")
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("docs", help="dbt docs generate (a self-contained static_index.html)")
    p.add_argument("--export-dir", default=None)
    p.add_argument("--duckdb-path", default=None)
    p.set_defaults(func=_cmd_docs)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OrbFinanceError as exc:
        err_console.print(f"error: {exc}", style="bold red", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
