"""Running dbt against an Orb export: one `dbt build` (or any dbt command) in a subprocess, with progress.

Owns the environment dbt runs in (absolute paths, no tracking, no colours), live progress from dbt's
events (the few that dbt_events.py forwards, as JSON lines), and the structured result (per-node status and
the first error worth showing a person).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import children, paths
from .dbt_events import AWAIT_COMMAND, ERROR_EVENTS, RESULT_EVENTS, SKIP_EVENTS, TEST_WARNING_EVENTS
from .errors import OrbFinanceError

@dataclass
class NodeResult:
    unique_id: str
    resource_type: str
    name: str
    status: str
    execution_time: float
    message: str | None = None
    failures: int | None = None        # a test: the rows it found (a warning's count)
    meaning: str = ""                  # a test: what its rows mean (the test's meta.meaning in the project)
    path: str = ""                     # a test: the file that defines it


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    elapsed: float
    duckdb_path: Path
    nodes: list[NodeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    other_output: list[str] = field(default_factory=list)
    log_file: Path | None = None
    log_warnings: list[str] = field(default_factory=list)     # dbt's warnings that are not a test's
    full_parse: list[str] = field(default_factory=list)       # why dbt parsed the whole project (empty: partial parse)
    reparsed: list[str] = field(default_factory=list)         # the files a partial parse parsed again ("updated <file>")

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def counts(self) -> Counter[str]:
        return Counter(n.status for n in self.nodes)

    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

    def warnings(self) -> list[NodeResult]:
        """The tests that passed with a warning (severity warn: they found rows, which never fail the build)."""
        return [n for n in self.nodes if n.status == "warn"]

    def summary(self) -> str:
        """The node counts, each warning named: `455 pass, 73 success, 1 warn (relationships_... : 2 rows)`."""
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        warned = self.warnings()
        if warned:
            counts += " (" + "; ".join(f"{w.name}: {_rows(w.failures)}" for w in warned) + ")"
        return counts

    def warning_lines(self) -> list[str]:
        """One line per warning: the test, how many rows it found, and what they mean; then dbt's other
        warnings (e.g. an optional column missing from a delivery file)."""
        lines = [f"warning: test {w.name} found {_rows(w.failures)}: {w.meaning or 'see ' + (w.path or 'its definition')}"
                 for w in self.warnings()]
        return lines + [f"warning: {m}" for m in self.log_warnings]

    def warnings_json(self) -> list[dict[str, object]]:
        """The warnings as run.json records them."""
        return [{"test": w.name, "unique_id": w.unique_id, "rows": w.failures, "meaning": w.meaning, "defined_in": w.path}
                for w in self.warnings()] + [{"message": m} for m in self.log_warnings]

    def reason(self) -> str:
        """One line saying why the run failed (empty when it did not)."""
        if self.success:
            return ""
        failed = self.failures()
        if failed:
            first = failed[0]
            detail = (first.message or first.status).strip().splitlines()
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            return f"{first.resource_type} {first.name} {first.status}: {' '.join(d.strip() for d in detail)}{more}"
        for message in (*self.errors, *self.other_output[-1:]):
            return " ".join(line.strip() for line in message.splitlines() if line.strip())
        return f"dbt exited with code {self.returncode}"


def _rows(n: int | None) -> str:
    return "rows" if n is None else f"{n:,} row{'s' if n != 1 else ''}"


# dbt in a fresh interpreter, writing to stdout only the events _track reads, as JSON lines (dbt_events.py).
_DBT_ENTRY = (sys.executable, "-m", "orb_finance.dbt_events")


def _start_dbt(argv: Sequence[str], env: dict[str, str], **popen) -> subprocess.Popen:
    """dbt's process, its output and errors on one text pipe. It dies with this process (kill -9 included) and
    holds the caller's build locks until it is gone (children.py)."""
    return subprocess.Popen(children.command(argv), cwd=paths.PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, pass_fds=children.held_fds(), **popen)


class DbtProcess:
    """A dbt interpreter started before its command is known: it imports dbt (about 4 s) while the caller prepares
    the build (build_and_swap copies the warehouse and plans the selection meanwhile), then runs the one command
    `run_dbt(..., process=...)` gives it, in the environment a fresh dbt process would have had. Left unused, it
    is killed on close. Like every dbt child it dies with this process and holds the caller's build locks."""

    def __init__(self, env: dict[str, str]):
        self.proc = _start_dbt([*_DBT_ENTRY, AWAIT_COMMAND], env, stdin=subprocess.PIPE)
        self.used = False

    def start(self, command: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
        """Give the process its command (`command` as run_dbt would start it; its dbt arguments are sent)."""
        assert self.proc.stdin is not None and not self.used
        self.used = True
        try:
            self.proc.stdin.write(json.dumps({"args": list(command[len(_DBT_ENTRY):]), "env": env}) + "\n")
            self.proc.stdin.close()
        except BrokenPipeError:               # it died importing dbt: run_dbt reads why from its output
            pass
        return self.proc

    def __enter__(self) -> "DbtProcess":
        return self

    def __exit__(self, *exc) -> None:
        if not self.used:
            self.proc.kill()
        with self.proc:                       # closes its pipes, waits for it
            pass


def dbt_environment(export_dir: Path | None, duckdb_path: Path, target_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
        DBT_PROFILES_DIR=str(paths.PROJECT_ROOT),
        DBT_PROJECT_DIR=str(paths.PROJECT_ROOT),
        ORB_DUCKDB_PATH=str(duckdb_path),
    )
    if export_dir is not None:
        env["ORB_EXPORT_PATH"] = str(export_dir)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
        env["DBT_LOG_PATH"] = str(target_path / "logs")
    return env


def run_dbt(
    args: Sequence[str],
    *,
    export_dir: str | os.PathLike[str] | None,
    duckdb_path: str | os.PathLike[str] | None = None,
    dbt_vars: dict[str, object] | None = None,
    target_path: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    extra_env: dict[str, str] | None = None,
    process: DbtProcess | None = None,
) -> DbtResult:
    """Run `dbt <args>` on the project with the given export and warehouse file; never raises on a dbt failure.
    `process`: a DbtProcess started ahead runs it (else a new dbt process)."""
    export = paths.resolve(export_dir) if export_dir else paths.export_dir()
    if export is None:
        raise OrbFinanceError("No Orb export directory: pass --export-dir or set ORB_EXPORT_PATH.")
    db = paths.duckdb_path(duckdb_path)
    catalog = db.name.lstrip(".").split(".")[0]          # dbt-duckdb names the catalog so, and quotes it as "<name>"
    if '"' in catalog:
        raise OrbFinanceError(f"the warehouse file name {db.name!r} holds a double quote, which dbt-duckdb cannot quote "
                              "(it names the database after the file): choose a name without one")
    db.parent.mkdir(parents=True, exist_ok=True)
    tpath = paths.dbt_target_path(target_path)
    command = [*_DBT_ENTRY, *args]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars, default=str)]
    env = {**dbt_environment(export, db, tpath), **(extra_env or {})}
    console = console or Console(stderr=True)

    started = time.monotonic()
    nodes: list[NodeResult] = []
    errors: list[str] = []
    other_output: list[str] = []
    log_warnings: list[str] = []
    full_parse: list[str] = []
    reparsed: list[str] = []
    with (process.start(command, env) if process else _start_dbt(command, env)) as proc:
        assert proc.stdout is not None
        with _progress(console, show_progress, " ".join(args[:1])) as (progress, task):
            for line in proc.stdout:
                event = _parse_event(line)
                if event is None:
                    if line.strip():
                        other_output.append(line.rstrip())
                    continue
                _track(event, nodes, errors, progress, task, log_warnings, full_parse, reparsed)
        returncode = proc.wait()
    elapsed = time.monotonic() - started
    return DbtResult(
        command=[*args], returncode=returncode, elapsed=elapsed, duckdb_path=db, nodes=nodes, errors=errors,
        other_output=other_output,
        log_file=(tpath or paths.PROJECT_ROOT) / "logs" / "dbt.log", log_warnings=log_warnings,
        full_parse=full_parse, reparsed=reparsed,
    )


def build(
    export_dir: str | os.PathLike[str] | None,
    duckdb_path: str | os.PathLike[str] | None = None,
    *,
    as_of: str | None = None,
    select: Iterable[str] | None = None,
    extra_args: Sequence[str] = (),
    target_path: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    extra_env: dict[str, str] | None = None,
    target: str = "duckdb",
    spark_warehouse: str | os.PathLike[str] | None = None,
    dbt_vars: dict[str, object] | None = None,
    full_refresh: bool = False,
    merged_rows_tests: bool = False,
    skip_unit_tests: bool = False,
    process: DbtProcess | None = None,
) -> DbtResult:
    """`dbt build` of the whole project (or a selection): into `duckdb_path`, or on Spark (`target="spark"`,
    tables written as parquet under `spark_warehouse`); `dbt_vars` are passed on (e.g. reporting_currency).

    On DuckDB staging is incremental: a warehouse that already holds staged tables merges only the delivery
    files it has not processed (macros/staging/orb_incremental.sql); `full_refresh` rebuilds from every file.
    `merged_rows_tests`: the staging tests check only the rows this build merged (the nightly's incremental
    builds, thrown away unless every test passes); `skip_unit_tests`: leave out dbt's unit tests (they depend on
    the code alone, which they already passed); `process`: a DbtProcess started ahead runs it.
    """
    args = ["build", *extra_args]
    if full_refresh:
        args.append("--full-refresh")
    if skip_unit_tests:
        args += ["--exclude", "test_type:unit"]
    if select:
        # Only the tests whose parents are all selected: an integrity test that also reads the marts
        # must not run (and fail) in a staging-only build.
        args += ["--select", *select]
        if "--indirect-selection" not in extra_args:
            args += ["--indirect-selection", "cautious"]
    # the as-of date goes to dbt as env ORB_AS_OF_DATE (macros/dates/dates.sql), not as the var as_of_date: dbt
    # parses the whole project again whenever its vars change, and the nightly's as-of date changes every night
    extra_env = {**(extra_env or {}), **({"ORB_STAGING_TESTS": "merged"} if merged_rows_tests else {}),
                 **({"ORB_AS_OF_DATE": str(as_of)} if as_of else {})}
    dbt_vars = dict(dbt_vars or {})
    if target != "duckdb":
        args += ["--target", target]
    if target == "spark":
        export = paths.resolve(export_dir) if export_dir else paths.export_dir()
        # Spark SQL cannot list a directory: tell the source hook which resources have files, in which format.
        dbt_vars["orb_export_resources"] = export_resources(export) if export else {}
        extra_env["SPARK_LOCAL_IP"] = "127.0.0.1"
        if spark_warehouse:
            extra_env["ORB_SPARK_WAREHOUSE"] = str(paths.resolve(spark_warehouse))
    return run_dbt(
        args, export_dir=export_dir, duckdb_path=duckdb_path, dbt_vars=dbt_vars or None, target_path=target_path,
        console=console, show_progress=show_progress, extra_env=extra_env, process=process,
    )


DOCS_ARTIFACTS = ("static_index.html", "index.html", "manifest.json", "catalog.json")


def generate_docs(out_dir: str | os.PathLike[str], *, export_dir: str | os.PathLike[str] | None = None,
                  duckdb_path: str | os.PathLike[str] | None = None,
                  target_path: str | os.PathLike[str] | None = None, console: Console | None = None,
                  show_progress: bool = True) -> tuple[DbtResult, list[Path]]:
    """`dbt docs generate --static` into `out_dir` without ever opening the warehouse for writing: dbt reads a copy
    of it (`<target>/docs/<name>`, overwritten each time, so dbt's partial parse stays warm), so the docs build
    while a notebook or the nightly holds the warehouse. The export is `export_dir`, else ORB_EXPORT_PATH, else
    the one the warehouse was built from. Returns dbt's result and the files written."""
    live = paths.duckdb_path(duckdb_path)
    if not live.is_file():
        raise OrbFinanceError(f"no warehouse at {live}: build it first (orbfin build, or make demo)")
    work = (paths.dbt_target_path(target_path) or paths.PROJECT_ROOT / "target") / "docs"
    work.mkdir(parents=True, exist_ok=True)
    copy = work / live.name
    _remove_duckdb_files(copy)
    shutil.copyfile(live, copy)
    if Path(f"{live}.wal").exists():                 # changes not yet checkpointed belong to the file
        shutil.copyfile(f"{live}.wal", f"{copy}.wal")
    try:
        export = paths.resolve(export_dir) if export_dir else (paths.export_dir() or built_from(copy))
        if export is None:
            raise OrbFinanceError("No Orb export directory: pass --export-dir or set ORB_EXPORT_PATH.")
        result = run_dbt(["docs", "generate", "--static"], export_dir=export, duckdb_path=copy,
                         target_path=work / "target", console=console, show_progress=show_progress)
    finally:
        _remove_duckdb_files(copy)
    written = []
    if result.success:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in DOCS_ARTIFACTS:
            if (work / "target" / name).exists():
                shutil.copyfile(work / "target" / name, out / name)
                written.append(out / name)
    return result, written


def built_from(db_path: Path) -> Path | None:
    """The export directory a warehouse was built from (orb_state.staged_resources), if it says."""
    import duckdb

    try:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            roots = con.execute("select distinct export_root from orb_state.staged_resources").fetchall()
        finally:
            con.close()
    except duckdb.Error:
        return None
    return Path(roots[0][0]) if len(roots) == 1 else None


def export_resources(export_dir: Path) -> dict[str, str]:
    """The resource directories of an export that hold delivery files, each with their format (parquet, csv,
    jsonl; formats joined by a comma when a directory mixes them, which Spark's source hook refuses)."""
    from .validate import delivery_format

    if not export_dir.is_dir():
        return {}
    found: dict[str, str] = {}
    for d in sorted(export_dir.iterdir()):
        if not d.is_dir():
            continue
        formats = sorted({fmt for f in d.iterdir() if f.is_file() and (fmt := delivery_format(f.name))})
        if formats:
            found[d.name] = ",".join(formats)
    return found


# --- dbt's events -----------------------------------------------------------------------------------

def _parse_event(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "info" in event else None


def _track(event: dict, nodes: list[NodeResult], errors: list[str], progress, task,
           log_warnings: list[str] | None = None, full_parse: list[str] | None = None,
           reparsed: list[str] | None = None) -> None:
    info, data = event["info"], event.get("data", {})
    name = info.get("name")
    if name == "UnableToPartialParse" and full_parse is not None:
        full_parse.append(str(data.get("reason") or info.get("msg") or ""))
    elif name == "PartialParsingFile" and reparsed is not None:
        reparsed.append(f"{data.get('operation', '')} {data.get('file_id', '')}".strip())
    elif name == "LogStartLine" and progress is not None and data.get("total"):
        progress.update(task, total=data["total"])
    elif name in RESULT_EVENTS or name in SKIP_EVENTS:
        node = data.get("node_info", {})
        status = str(data.get("status") or node.get("node_status") or "").lower()
        if name in SKIP_EVENTS:
            status = "skipped"
        if status == "ok":
            status = "success"
        failures = data.get("num_failures")
        nodes.append(NodeResult(
            unique_id=node.get("unique_id", ""), resource_type=node.get("resource_type", ""),
            name=node.get("node_name", ""), status=status, execution_time=float(data.get("execution_time") or 0),
            failures=int(failures) if failures is not None else None,
            meaning=" ".join(str((node.get("meta") or {}).get("meaning") or "").split()),
        ))
        if progress is not None:
            progress.advance(task)
    elif name in ERROR_EVENTS:
        # (RunResultFailure, which comes first, only says "Failure in model X"; this one has the cause.)
        uid = data.get("node_info", {}).get("unique_id")
        msg = info.get("msg", "")
        for n in nodes:
            if n.unique_id == uid:
                n.message = msg
                break
        else:
            if msg:
                errors.append(msg)
    elif name == "RunResultFailure":
        pass
    elif name == "RunResultWarning":
        uid = data.get("node_info", {}).get("unique_id")
        for n in nodes:
            if n.unique_id == uid:
                n.path = str(data.get("path") or "")
    elif info.get("level") == "error" and info.get("msg"):
        errors.append(info["msg"])
    elif info.get("level") == "warn" and info.get("msg") and name not in TEST_WARNING_EVENTS \
            and log_warnings is not None and name not in RESULT_EVENTS:
        log_warnings.append(" ".join(str(info["msg"]).split()))


class _progress:
    def __init__(self, console: Console, enabled: bool, label: str):
        self.console, self.enabled, self.label = console, enabled, label
        self.progress = None

    def __enter__(self):
        if not self.enabled:
            return None, None
        self.progress = Progress(
            TextColumn(f"dbt {self.label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )
        self.progress.__enter__()
        task = self.progress.add_task("nodes", total=None)
        return self.progress, task

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False


# --- the nightly's atomic swap ----------------------------------------------------------------------------

# DuckDB's memory limit on an incremental night (unless ORB_DUCKDB_MEMORY_LIMIT is set): the night reads a day's
# files, and merging them and rebuilding the marts stays fast within it (scripts/bench.py). A full build keeps the
# profile's (3 GB by default): it stages every file.
NIGHT_MEMORY_LIMIT = "1500MB"
# dbt's threads on an incremental night (unless ORB_DBT_THREADS is set; the profile's default is 2): most of a
# night's ~135 nodes are small, and dbt's own work per node (about 0.1 s of Python, one thread at a time) then
# overlaps with the queries of two others. 20k nights, alternating on one warehouse: dbt 33.0-34.9 s with 2
# threads, 31.2-32.9 s with 3, 31.4-32.5 s with 4; peak memory the same (DuckDB's limit holds for all).
NIGHT_DBT_THREADS = "3"


@dataclass
class SwapResult:
    """A build into a side file and, when it passed, its swap onto the live warehouse."""
    dbt: DbtResult | None
    live_path: Path
    build_path: Path
    swapped: bool
    previous_path: Path | None = None
    problem: str = ""
    started_from: str = "empty"         # "copy": the live warehouse copied first (an incremental night)
    copy_seconds: float = 0.0
    copied_bytes: int = 0

    @property
    def success(self) -> bool:
        return self.swapped

    def reason(self) -> str:
        """One line saying why the live warehouse was not replaced (empty when it was)."""
        if self.swapped:
            return ""
        if self.dbt is not None and not self.dbt.success:
            return self.dbt.reason()
        return self.problem


def building_path(live_path: Path) -> Path:
    """Where the next warehouse is built: beside the live one (same filesystem, so the rename is atomic).

    The name is fixed per warehouse, not per run: it is dbt-duckdb's database name and so part of dbt's
    profile, and a new name every night would throw away dbt's partial parse. Runs are serialised by
    `build_and_swap`'s lock, and a leftover of a killed run is deleted before the next build.
    """
    return live_path.with_name(f".building-{live_path.name}")


def previous_path(live_path: Path) -> Path:
    return live_path.with_name(f"{live_path.stem}.previous{live_path.suffix}")


def build_and_swap(
    export_dir: str | os.PathLike[str] | None,
    duckdb_path: str | os.PathLike[str] | None = None,
    *,
    as_of: str | None = None,
    target_path: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    keep_previous: bool = True,
    dbt_vars: dict[str, object] | None = None,
    full_refresh: bool = False,
) -> SwapResult:
    """`dbt build` into a new DuckDB file beside the live one; replace the live file only if dbt passed.

    The new file starts as a copy of the live warehouse (its write-ahead log merged first), so dbt merges only
    the delivery files the live warehouse has not processed (an incremental night); with `full_refresh`, or
    when there is no live warehouse, it starts empty and stages every file. dbt exits 0 only when every model,
    seed and test passed; then the new file is checkpointed (no WAL left), opened once read-only as a check,
    and renamed over the live path with `os.replace`. A reader holding the old file open keeps reading the
    old inode; a new reader sees the whole new warehouse. On any failure the new file is deleted and the live
    warehouse is not touched. With `keep_previous` the old warehouse stays reachable as
    `<name>.previous.duckdb` (a hard link, no copy). dbt's process starts first (DbtProcess): it imports dbt,
    about 4 s, while the copy is made and the selection planned.
    """
    import fcntl

    live = paths.duckdb_path(duckdb_path)
    live.parent.mkdir(parents=True, exist_ok=True)
    build_path = building_path(live)
    lock_path = live.with_name(f".building-{live.name}.lock")
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return SwapResult(None, live, build_path, False, problem=(
                f"another build of {live} is running (it holds {lock_path}); not starting a second one"))
        _remove_duckdb_files(build_path)          # a leftover of a killed run (its dbt is gone: it held the lock)
        # dbt holds this lock as long as it runs; it imports itself while the copy is made and the selection planned
        with children.shared_with_children(lock), DbtProcess(dbt_environment(None, build_path)) as dbt_process:
            try:
                started_from, copy_seconds, copied = "empty", 0.0, 0
                code = project_code_digest()
                if live.exists() and not full_refresh and _incremental_from(live, export_dir, code):
                    problem = _settle_live_wal(live)
                    if problem:
                        return SwapResult(None, live, build_path, False, problem=problem)
                    started = time.monotonic()
                    copied = _copy_file(live, build_path)
                    started_from, copy_seconds = "copy", time.monotonic() - started
                incremental = started_from == "copy"
                night_profile = {name: value for name, value in (("ORB_DUCKDB_MEMORY_LIMIT", NIGHT_MEMORY_LIMIT),
                                                                 ("ORB_DBT_THREADS", NIGHT_DBT_THREADS))
                                 if incremental and not os.environ.get(name)}
                result = build(export_dir, build_path, as_of=as_of, console=console, show_progress=show_progress,
                               # dbt's state per kind of night: the memory limit and threads are part of dbt's
                               # profile, and a profile that changes from one run to the next costs a full parse
                               target_path=(paths.resolve(target_path) / ("incremental" if incremental else "full")
                                            if target_path else None),
                               full_refresh=full_refresh, dbt_vars=dbt_vars,
                               extra_args=_incremental_selection(build_path, export_dir) if incremental else (),
                               merged_rows_tests=incremental, skip_unit_tests=incremental, extra_env=night_profile,
                               process=dbt_process)
                if not result.success:
                    return SwapResult(result, live, build_path, False, started_from=started_from,
                                      copy_seconds=copy_seconds, copied_bytes=copied)
                problem = _finish_build_file(build_path, unit_tested_code=code)
                if not problem:
                    problem = _settle_live_wal(live)
                if problem:
                    return SwapResult(result, live, build_path, False, problem=problem, started_from=started_from,
                                      copy_seconds=copy_seconds, copied_bytes=copied)
                kept = _keep_previous(live) if keep_previous else None
                os.replace(build_path, live)
                _fsync_dir(live.parent)
                return SwapResult(result, live, build_path, True, previous_path=kept, started_from=started_from,
                                  copy_seconds=copy_seconds, copied_bytes=copied)
            finally:
                _remove_duckdb_files(build_path)      # nothing left behind, whether it was swapped or not


def _copy_file(source: Path, target: Path) -> int:
    """Copy the live warehouse to the side file (the kernel copies: copy_file_range/sendfile); its size."""
    shutil.copyfile(source, target)
    return target.stat().st_size


def project_code_digest() -> str:
    """A digest of what dbt's unit tests depend on: every file of the dbt project (models, macros, seeds, tests,
    dbt_project.yml) and the versions of dbt and DuckDB."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256()
    files = [paths.PROJECT_ROOT / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        files += sorted(p for p in (paths.PROJECT_ROOT / folder).rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(paths.PROJECT_ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()


def _incremental_selection(copy: Path, export_dir) -> list[str]:
    """What an incremental night builds: the staging models (and the source tests) of the resources with delivery
    files the copy has not processed, and every intermediate model and mart (dbt's default, eager, test selection adds the tests
    of those, relationship tests from a merged resource to an unchanged one included). A resource without a new
    file keeps its staged table and its tests' last results: nothing it holds changed. (The source hook still
    checks every resource's processed files for rewrites and removals.)"""
    import duckdb

    from .validate import is_delivery_file, source_resources

    export = paths.resolve(export_dir) if export_dir else paths.export_dir()
    con = duckdb.connect(str(copy), read_only=True)
    try:
        processed = {r[0] for r in con.execute("select path from orb_state.processed_files").fetchall()}
        staged = {r[0] for r in con.execute("select resource from orb_state.staged_resources").fetchall()}
    finally:
        con.close()
    to_merge = []
    for resource in sorted(source_resources()):
        folder = export / resource
        files = [str(p) for p in folder.iterdir() if p.is_file() and is_delivery_file(p.name)
                 and not p.name.startswith((".", "_"))] if folder.is_dir() else []
        if resource not in staged or any(f not in processed for f in files):
            # and the tests on its source (event copies that disagree: they run before the merge, see
            # tests/dbt/generic/orb_event_copies_agree.sql)
            to_merge += [f"stg_orb__{resource}", f"source:orb.{resource}"]
    # the rate file (reporting currency) is small and read whole every night: it may change, and so may the vars.
    # No seed: a night starts from a copy only when the code, seeds included, is the code the copy was built with.
    return ["--select", *to_merge, "path:models/staging/fx", "path:models/intermediate", "path:models/marts"]


def _incremental_from(live: Path, export_dir, code: str) -> bool:
    """Whether tonight can start from a copy of the live warehouse: it was built (and its unit tests passed) with
    this very code, from this export directory. Otherwise the build starts empty: staging would be rebuilt from
    every file anyway, and rebuilding it inside a copy would leave the file twice its size."""
    import duckdb

    export = str(paths.resolve(export_dir) if export_dir else paths.export_dir())
    try:
        con = duckdb.connect(str(live), read_only=True)
        try:
            tested = con.execute("select code_digest from orb_state.unit_tested").fetchall()
            roots = con.execute("select distinct export_root from orb_state.staged_resources").fetchall()
        finally:
            con.close()
    except duckdb.Error:
        return False
    return tested == [(code,)] and roots == [(export,)]


def _finish_build_file(path: Path, unit_tested_code: str | None = None) -> str:
    """Record which code's unit tests this build passed, checkpoint the freshly built file (its WAL merged and
    gone) and check it opens with marts in it."""
    import duckdb

    wal = Path(f"{path}.wal")
    try:
        if wal.exists() or unit_tested_code:
            con = duckdb.connect(str(path))
            try:
                if unit_tested_code:
                    con.execute("create schema if not exists orb_state")
                    con.execute("create or replace table orb_state.unit_tested as select ? as code_digest, "
                                "cast(now() as timestamp) as tested_at", [unit_tested_code])
                con.execute("checkpoint")
            finally:
                con.close()
        if wal.exists():
            return f"the new warehouse {path} still has a write-ahead log after a checkpoint; not swapping it in"
        con = duckdb.connect(str(path), read_only=True)
        try:
            marts = con.execute("select count(*) from duckdb_tables() where schema_name = 'marts'").fetchall()[0][0]
        finally:
            con.close()
    except duckdb.Error as exc:
        return f"the new warehouse {path} cannot be opened after the build: {exc}"
    if not marts:
        return f"the new warehouse {path} has no tables in schema marts; not swapping it in"
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
    return ""


def _settle_live_wal(live: Path) -> str:
    """A WAL beside the live file belongs to that file: merge it before the file is replaced, or the WAL
    would be replayed onto the new warehouse. Fails (leaving everything as it is) while a writer holds it."""
    import duckdb

    wal = Path(f"{live}.wal")
    if not wal.exists():
        return ""
    try:
        con = duckdb.connect(str(live))
        try:
            con.execute("checkpoint")
        finally:
            con.close()
    except duckdb.Error as exc:
        return (f"the live warehouse {live} has a write-ahead log and cannot be checkpointed ({exc}); "
                "is a process writing to it? Not swapping")
    if wal.exists():
        return f"the live warehouse {live} still has a write-ahead log after a checkpoint; not swapping"
    return ""


def _keep_previous(live: Path) -> Path | None:
    """Hard-link the live file as <name>.previous.duckdb (replacing the older one); None when there is none."""
    if not live.exists():
        return None
    previous = previous_path(live)
    staging = previous.with_name(f".{previous.name}.new")
    staging.unlink(missing_ok=True)
    try:
        os.link(live, staging)
    except OSError:                               # a filesystem without hard links: no previous copy kept
        return None
    Path(f"{previous}.wal").unlink(missing_ok=True)
    os.replace(staging, previous)
    return previous


def _remove_duckdb_files(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        p.unlink(missing_ok=True)
    tmp = Path(f"{path}.tmp")                     # DuckDB's spill directory
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
