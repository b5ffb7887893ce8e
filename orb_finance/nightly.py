"""`orbfin nightly` (SPEC §6): validate the export, build and swap the warehouse, sync, write the reports.

Owns the order of the steps, what a failure of one means for the next, their timings, the exit codes
and `run.json` (the machine-readable account of a run, beside the reports). The steps' work lives in
validate.py, warehouse.build_and_swap, the sync package and reports/.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import children, paths, warehouse
from .errors import OrbFinanceError
from .reporting_currency import reporting_vars
from .validate import DEFAULT_MAX_AGE_HOURS, ExportError, validate_export

EXIT_OK = 0
EXIT_NOT_STARTED = 1          # bad arguments, or another nightly holds the lock: nothing was done
EXIT_BAD_EXPORT = 2
EXIT_BUILD_FAILED = 3
EXIT_SYNC_FAILED = 4
EXIT_REPORTS_FAILED = 5
EXIT_BOOKS_DIFFER = 6

EXIT_CODES_HELP = """exit codes:
  0  every step passed
  1  not started: a bad --as-of, or another nightly run holds the lock
     (a command line argparse cannot parse prints the usage and exits 2 before anything runs)
  2  bad export: a required resource missing, a file unreadable, or the newest delivery too old
  3  build failed: dbt build or its tests failed (the warehouse in place is yesterday's, untouched)
  4  sync had failures: failed records, or the sync could not run (reports are still written)
  5  reports failed: the workbook, CSV files or HTML summary could not be written
  6  the books do not tie: orbfin sync reconcile found the provider's balances differ from the warehouse's"""

DEFAULT_REPORTS_DIR = "reports"
DEFAULT_TARGET_PATH = "target/nightly"
OK, FAILED, SKIPPED, NOT_RUN = "ok", "failed", "skipped", "not run"
STEP_TITLES = {"validate": "validate export", "build": "dbt build + swap", "sync": "accounting sync",
               "reconcile": "reconcile the books", "reports": "write reports"}
FAILURE_WORDS = {EXIT_BAD_EXPORT: "bad export", EXIT_BUILD_FAILED: "build failed", EXIT_SYNC_FAILED: "sync had failures",
                 EXIT_REPORTS_FAILED: "reports failed", EXIT_BOOKS_DIFFER: "the books do not tie"}
MAX_LISTED = 50


@dataclass
class Step:
    name: str
    status: str = NOT_RUN
    started_at: str | None = None
    duration_seconds: float | None = None
    summary: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return STEP_TITLES[self.name]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "started_at": self.started_at,
                "duration_seconds": self.duration_seconds, "summary": self.summary, "error": self.error,
                "details": self.details}


@dataclass
class NightlyResult:
    as_of: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    exit_code: int = EXIT_OK
    reason: str = ""
    steps: list[Step] = field(default_factory=list)
    export_dir: Path | None = None
    warehouse: Path | None = None
    reports_folder: Path | None = None
    run_json: Path | None = None

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or dt.datetime.now(dt.timezone.utc)
        return round((end - self.started_at).total_seconds(), 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "status": "ok" if self.exit_code == EXIT_OK else "failed",
            "exit_code": self.exit_code,
            "reason": self.reason,
            "export_dir": str(self.export_dir) if self.export_dir else None,
            "warehouse": str(self.warehouse) if self.warehouse else None,
            "reports_folder": str(self.reports_folder) if self.reports_folder else None,
            "steps": [s.to_json() for s in self.steps],
        }

    def table(self) -> Table:
        from .tables import compact_table

        t = compact_table(title=f"orbfin nightly as of {self.as_of.isoformat()}")
        for col, justify in (("step", "left"), ("status", "left"), ("seconds", "right"), ("what happened", "left")):
            t.add_column(col, justify=justify, overflow="fold", no_wrap=col != "what happened")
        styles = {OK: "green", FAILED: "bold red", SKIPPED: "yellow", NOT_RUN: "dim"}
        for s in self.steps:
            secs = f"{s.duration_seconds:.1f}" if s.duration_seconds is not None else "-"
            t.add_row(s.title, f"[{styles[s.status]}]{s.status}[/]", secs, escape(s.error or s.summary))
        return t

    def closing_line(self) -> str:
        if self.exit_code == EXIT_OK:
            return f"nightly OK as of {self.as_of.isoformat()} in {self.duration_seconds:.1f}s; reports: {self.reports_folder}"
        return f"nightly FAILED (exit {self.exit_code}): {self.reason}"


def run(
    export_dir: str | os.PathLike[str] | None = None,
    *,
    as_of: str | dt.date | None = None,
    config: str | os.PathLike[str] | None = None,
    duckdb_path: str | os.PathLike[str] | None = None,
    reports_dir: str | os.PathLike[str] | None = None,
    max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
    skip_build: bool = False,
    full_refresh: bool = False,
    target_path: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    reporting_currency: str | None = None,
    fx_rates: str | os.PathLike[str] | None = None,
) -> NightlyResult:
    """One nightly run. Never raises for a failed step: the result carries the exit code and the reason.

    Raises OrbFinanceError (exit 1) only when it cannot start: a bad as-of date, bad reporting-currency
    options (see reporting_currency.reporting_vars), or another nightly for the same warehouse holding the lock.
    """
    console = console or Console(stderr=True)
    as_of_date = parse_as_of(as_of)
    dbt_vars = reporting_vars(reporting_currency, fx_rates)
    from .sync import settings as sync_settings

    try:                    # every setting is checked before anything is built or sent (SPEC §5)
        sync_settings.load(str(config) if config else None)
    except OrbFinanceError as exc:
        raise OrbFinanceError(f"not starting: the accounting sync settings are wrong: {exc}") from None
    if max_age_hours is not None and not max_age_hours >= 0:
        raise OrbFinanceError(f"--max-age-hours must be 0 (no check) or more, got {max_age_hours}")
    live = paths.duckdb_path(duckdb_path)
    reports_root = paths.resolve(reports_dir or DEFAULT_REPORTS_DIR)
    # dbt's state for the nightly: --target-path, else $ORB_DBT_TARGET_PATH/nightly, else target/nightly
    target = paths.resolve(target_path) if target_path else (
        (paths.dbt_target_path() / "nightly") if paths.dbt_target_path() else paths.resolve(DEFAULT_TARGET_PATH))
    result = NightlyResult(as_of=as_of_date, started_at=dt.datetime.now(dt.timezone.utc),
                           steps=[Step(n) for n in STEP_TITLES], warehouse=live,
                           reports_folder=reports_root / as_of_date.isoformat())
    live.parent.mkdir(parents=True, exist_ok=True)
    lock_path = live.with_name(f".{live.name}.nightly.lock")
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OrbFinanceError(f"another orbfin nightly for {live} is running (it holds {lock_path}); "
                                  "not starting a second one") from None
        with children.shared_with_children(lock):       # a dbt of this night holds the lock until it is gone
            _run_steps(result, export_dir, config, live, reports_root, max_age_hours, skip_build, full_refresh, target,
                       console, show_progress, dbt_vars)
        result.finished_at = dt.datetime.now(dt.timezone.utc)
        _write_run_json(result, console)
    return result


def parse_as_of(value: str | dt.date | None) -> dt.date:
    """The as-of date: YYYY-MM-DD, default today in UTC (the dbt var as_of_date's default too)."""
    if value is None or value == "":
        return dt.datetime.now(dt.timezone.utc).date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise OrbFinanceError(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from None


# --- the steps --------------------------------------------------------------------------------------------

def _run_steps(result: NightlyResult, export_dir, config, live: Path, reports_root: Path, max_age_hours,
               skip_build: bool, full_refresh: bool, target: Path, console: Console, show_progress: bool,
               dbt_vars: dict[str, str]) -> None:
    failures: list[tuple[int, str]] = []

    def begin(step: Step, n: int) -> float:
        step.started_at = _iso(dt.datetime.now(dt.timezone.utc))
        console.print(f"[bold][{n}/{len(STEP_TITLES)}][/] {step.title} ...", highlight=False)
        return time.monotonic()

    def end(step: Step, started: float, status: str, summary: str = "", error: str | None = None) -> None:
        step.duration_seconds = round(time.monotonic() - started, 3)
        step.status, step.summary, step.error = status, summary, error
        mark = {OK: "[green]ok[/]", FAILED: "[bold red]FAILED[/]", SKIPPED: "[yellow]skipped[/]"}[status]
        console.print(f"      {mark} in {step.duration_seconds:.1f}s: {escape(error or summary)}", highlight=False,
                      markup=True, soft_wrap=True)

    def not_run(names: list[str], why: str) -> None:
        for name in names:
            result.step(name).summary = why
        console.print(f"      {', '.join(STEP_TITLES[n] for n in names)}: {why}", highlight=False, markup=False)

    # 1. validate the export
    step = result.step("validate")
    t = begin(step, 1)
    export = paths.export_dir(export_dir)
    result.export_dir = export
    if export is None:
        end(step, t, FAILED, error="no Orb export directory: pass --export-dir or set ORB_EXPORT_PATH")
        failures.append((EXIT_BAD_EXPORT, step.error))
    else:
        try:
            check = validate_export(export, max_age_hours=max_age_hours)
        except ExportError as exc:
            step.details = {"export_dir": str(export), "problems": exc.problems}
            end(step, t, FAILED, error=exc.one_line())
            failures.append((EXIT_BAD_EXPORT, step.error))
        except Exception as exc:      # e.g. a directory that cannot be listed
            end(step, t, FAILED, error=f"cannot check {export}: {_one_line(exc)}")
            failures.append((EXIT_BAD_EXPORT, step.error))
        else:
            step.details = check.details()
            end(step, t, OK, check.summary() + (f" ({len(check.warnings)} warning(s))" if check.warnings else ""))
    if failures:
        not_run(["build", "sync", "reconcile", "reports"], "not run: the export is not usable")
        return _conclude(result, failures)

    # 2. dbt build into a side file, swapped in only when it passed
    step = result.step("build")
    t = begin(step, 2)
    if skip_build:
        if live.exists():
            step.details = {"warehouse": str(live), "built": False}
            end(step, t, SKIPPED, f"--skip-build: using the warehouse in place, {live}")
        else:
            end(step, t, FAILED, error=f"--skip-build, but there is no warehouse at {live}")
            failures.append((EXIT_BUILD_FAILED, step.error))
    else:
        try:
            swap = warehouse.build_and_swap(export, live, as_of=result.as_of.isoformat(), target_path=target,
                                            console=console, show_progress=show_progress, dbt_vars=dbt_vars,
                                            full_refresh=full_refresh)
        except Exception as exc:      # dbt could not even start (a disk error, a missing interpreter...)
            swap = warehouse.SwapResult(None, live, warehouse.building_path(live), False,
                                        problem=f"the build could not run: {_one_line(exc)}")
        step.details = {**_build_details(swap), **dbt_vars}
        counts = swap.dbt.summary() if swap.dbt else ""
        notes = len(swap.dbt.log_warnings) if swap.dbt else 0
        if notes:
            counts += f"; {notes} dbt warning(s) about the export (run.json: dbt_warnings)"
        if swap.swapped:
            how = (f"incremental on a copy of the live warehouse ({swap.copy_seconds:.1f}s to copy)"
                   if swap.started_from == "copy" else "from every delivery file")
            end(step, t, OK, f"dbt {counts}, {how}; swapped into {live}")
        else:
            kept = f"the warehouse in place ({live}) was not touched" if live.exists() else "no warehouse was written"
            end(step, t, FAILED, error=f"{swap.reason()} ({counts}; {kept})" if counts else f"{swap.reason()} ({kept})")
            failures.append((EXIT_BUILD_FAILED, swap.reason()))
    if failures:
        not_run(["sync", "reconcile", "reports"], "not run: the build failed")
        return _conclude(result, failures)

    # 3. the accounting sync
    step = result.step("sync")
    t = begin(step, 3)
    try:
        sync_result = _run_sync(config, live, console, show_progress)
        outstanding = _outstanding_failures(config)
    except Exception as exc:          # a bad config, an unreachable provider, a bug: all are "the sync failed"
        step.details = {"config": str(config) if config else None}
        end(step, t, FAILED, error=f"the sync could not run: {_one_line(exc)}")
        failures.append((EXIT_SYNC_FAILED, step.error))
    else:
        step.details = _sync_details(sync_result, config)
        step.details["failed_objects"] = len(outstanding)
        summary = _sync_summary(sync_result, outstanding)
        if sync_result.ok and not outstanding:
            end(step, t, OK, summary)
        else:
            end(step, t, FAILED, error=summary)
            failures.append((EXIT_SYNC_FAILED, summary))

    # 4. reconcile the books (SPEC §5.1): the provider's balances beside the warehouse's
    step = result.step("reconcile")
    t = begin(step, 4)
    report: Any = None
    if "records_written" not in result.step("sync").details:
        end(step, t, SKIPPED, "not run: the sync could not run")
        report = "Reconcile did not run: the sync could not run."
    else:
        try:
            report = _reconcile(config, live)
        except Exception as exc:          # an unreachable provider, a warehouse without the marts...
            end(step, t, FAILED, error=f"reconcile could not run: {_one_line(exc)}")
            failures.append((EXIT_BOOKS_DIFFER, step.error))
            report = f"Reconcile could not run: {_one_line(exc)}"
        else:
            step.details = {"as_of": report.as_of.isoformat(), "lines": len(report.lines),
                            "differences": [_one_line(describe_line(l)) for l in report.differences][:MAX_LISTED],
                            "customers_differing": sum(1 for c in report.customers if c.status == "differs"),
                            "out_of_scope": sum(1 for l in report.lines if l.status == "out of scope")}
            if report.ok:
                end(step, t, OK, report.summary())
            else:
                end(step, t, FAILED, error=report.summary())
                failures.append((EXIT_BOOKS_DIFFER, report.summary()))

    # 5. the reports (also after a failed sync: the marts are right, and the page lists the failures)
    step = result.step("reports")
    t = begin(step, 5)
    try:
        from .reports.bundle import write_reports

        sync_step = result.step("sync")
        could_not_run = sync_step.status == FAILED and "records_written" not in sync_step.details
        snapshot = _sync_snapshot(config, note=(sync_step.error or "") if could_not_run else "")
        files = write_reports(live, reports_root, result.as_of, snapshot, report, _month_journals(config, live,
                                                                                                  result.as_of))
    except Exception as exc:
        end(step, t, FAILED, error=_one_line(exc))
        failures.append((EXIT_REPORTS_FAILED, step.error))
    else:
        step.details = {"folder": str(files.folder), "workbook": str(files.workbook), "summary": str(files.summary),
                        "csv": [str(p) for p in files.csvs], "rows": files.rows, "notes": files.notes}
        end(step, t, OK, f"{len(files.paths())} files in {files.folder}")
    _conclude(result, failures)


def _conclude(result: NightlyResult, failures: list[tuple[int, str]]) -> None:
    if not failures:
        result.exit_code, result.reason = EXIT_OK, ""
        return
    code, why = failures[0]
    result.exit_code = code
    result.reason = f"{FAILURE_WORDS[code]}: {why}"
    for other_code, other in failures[1:]:
        result.reason += f"; also {FAILURE_WORDS[other_code]}: {other}"


def _build_details(swap: warehouse.SwapResult) -> dict[str, Any]:
    details: dict[str, Any] = {"warehouse": str(swap.live_path), "built_in": str(swap.build_path),
                               "swapped": swap.swapped,
                               "previous": str(swap.previous_path) if swap.previous_path else None,
                               "started_from": swap.started_from, "copy_seconds": round(swap.copy_seconds, 3),
                               "copied_bytes": swap.copied_bytes}
    if swap.dbt is not None:
        details.update(dbt_counts=dict(sorted(swap.dbt.counts().items())),
                       dbt_seconds=round(swap.dbt.elapsed, 3),
                       dbt_failures=[{"node": f.unique_id, "status": f.status, "message": (f.message or "").strip()}
                                     for f in swap.dbt.failures()[:MAX_LISTED]],
                       # every warning: the test, the rows it found and what they mean (or dbt's own message)
                       dbt_warnings=swap.dbt.warnings_json()[:MAX_LISTED],
                       dbt_log=str(swap.dbt.log_file) if swap.dbt.log_file else None)
    if not swap.swapped:
        details["reason"] = swap.reason()
    return details


# --- the sync: the two places that call the sync package --------------------------------------------------

def _run_sync(config, duckdb_path: Path, console: Console, show_progress: bool):
    """One sync pass over the swapped-in warehouse (orb_finance.sync; SPEC §5)."""
    from . import sync

    return sync.run(str(config) if config else None, str(duckdb_path), console=console, show_progress=show_progress)


def _reconcile(config, duckdb_path: Path):
    """`orbfin sync reconcile` on the swapped-in warehouse (orb_finance.sync.reconcile; SPEC §5.1)."""
    from .sync import reconcile, settings as sync_settings

    return reconcile.reconcile(sync_settings.load(str(config) if config else None), duckdb_path)


def _month_journals(config, duckdb_path: Path, as_of: dt.date):
    """With revenue_recognition: warehouse, the journals of the last ended month (SPEC §5.2), for the report."""
    from .sync import recognition, settings as sync_settings
    from .sync.marts import load_marts

    try:
        if sync_settings.load(str(config) if config else None).revenue_recognition != "warehouse":
            return None
        data = load_marts(duckdb_path)
    except OrbFinanceError:
        return None
    month = recognition.last_ended_month(as_of)
    return month, recognition.month_journals(month, data.revenue_monthly, data.rollforward, data.minor_units)


def describe_line(line) -> str:
    from .sync.reconcile import describe

    return describe(line)


def _sync_snapshot(config, note: str = ""):
    """The accounting system as the sync's records describe it (orb_finance.sync.snapshot): the HTML's sync
    section. None when the sync settings cannot be read."""
    from .sync.snapshot import snapshot

    return snapshot(config, note)


def _outstanding_failures(config) -> list[dict[str, Any]]:
    """Objects whose latest sync record is failed: from this run or an earlier one, until someone retries them
    (failures are never retried automatically, so the nightly keeps saying so)."""
    snapshot = _sync_snapshot(config)
    return snapshot.failed if snapshot else []


def _sync_details(res, config) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = defaultdict(dict)
    for (otype, status), n in sorted(res.counts.items()):
        by[otype][status] = n
    return {
        "config": str(paths.resolve(config)) if config else None,
        "provider": res.provider,
        "run_id": res.run_id,
        "counts": dict(by),
        "sent": res.sent,
        "records_written": res.records_written,
        "failed": len(res.failures),
        "failures": [{"record_id": r.record_id, "object_type": r.object_type, "orb_id": r.orb_id, "error": r.error}
                     for r in res.failures[:MAX_LISTED]],
        "skipped": len(res.skips),
        "aborted": res.aborted,
    }


def _sync_summary(res, outstanding: list[dict[str, Any]]) -> str:
    totals: dict[str, int] = defaultdict(int)
    for (_, status), n in res.counts.items():
        totals[status] += n
    text = ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) or "nothing to do"
    text = f"{res.provider}: {text}; {res.sent} provider write(s)"
    if res.aborted:
        return f"stopped: {_one_line(res.aborted)}; {text}"
    if outstanding:
        first = outstanding[0]
        return (f"{len(outstanding)} object(s) failed to sync ({len(res.failures)} in this run; first: record "
                f"{first['record_id']} {first['object_type']} {first['orb_id']}: {_one_line(first['error'])}; "
                f"fix, then orbfin sync retry); {text}")
    return text


# --- run.json ---------------------------------------------------------------------------------------------

def _write_run_json(result: NightlyResult, console: Console) -> None:
    folder = result.reports_folder
    assert folder is not None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "run.json"
        tmp = folder / ".run.json.tmp"
        tmp.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        result.run_json = path
    except OSError as exc:
        console.print(f"warning: cannot write run.json in {folder}: {exc}", markup=False, highlight=False)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(exc: BaseException | str | None) -> str:
    text = str(exc) if exc is not None else ""
    if isinstance(exc, BaseException) and not isinstance(exc, OrbFinanceError):
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())
