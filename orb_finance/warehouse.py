"""Running dbt against an Orb export: one `dbt build` (or any dbt command) in a subprocess, with progress.

Owns the environment dbt runs in (absolute paths, no tracking, no colours), live progress from dbt's
JSON log, and the structured result (per-node status and the first error worth showing a person).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import paths
from .errors import OrbFinanceError

@dataclass
class NodeResult:
    unique_id: str
    resource_type: str
    name: str
    status: str
    execution_time: float
    message: str | None = None


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

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def counts(self) -> Counter[str]:
        return Counter(n.status for n in self.nodes)

    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

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


# dbt's CLI in a fresh interpreter (`python -m dbt.cli.main` prints a runpy warning first).
_DBT_MAIN = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


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
) -> DbtResult:
    """Run `dbt <args>` on the project with the given export and warehouse file; never raises on a dbt failure."""
    export = paths.resolve(export_dir) if export_dir else paths.export_dir()
    if export is None:
        raise OrbFinanceError("No Orb export directory: pass --export-dir or set ORB_EXPORT_PATH.")
    db = paths.duckdb_path(duckdb_path)
    db.parent.mkdir(parents=True, exist_ok=True)
    tpath = paths.resolve(target_path) if target_path else None
    command = [sys.executable, "-c", _DBT_MAIN, *args, "--log-format", "json"]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars, default=str)]
    env = dbt_environment(export, db, tpath)
    console = console or Console(stderr=True)

    started = time.monotonic()
    nodes: list[NodeResult] = []
    errors: list[str] = []
    other_output: list[str] = []
    with subprocess.Popen(
        command, cwd=paths.PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        with _progress(console, show_progress, " ".join(args[:1])) as (progress, task):
            for line in proc.stdout:
                event = _parse_event(line)
                if event is None:
                    if line.strip():
                        other_output.append(line.rstrip())
                    continue
                _track(event, nodes, errors, progress, task)
        returncode = proc.wait()
    elapsed = time.monotonic() - started
    return DbtResult(
        command=[*args], returncode=returncode, elapsed=elapsed, duckdb_path=db, nodes=nodes, errors=errors,
        other_output=other_output,
        log_file=(tpath or paths.PROJECT_ROOT) / "logs" / "dbt.log",
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
) -> DbtResult:
    """`dbt build` of the whole project (or a selection) into `duckdb_path`."""
    args = ["build", *extra_args]
    if select:
        args += ["--select", *select]
    dbt_vars = {"as_of_date": as_of} if as_of else None
    return run_dbt(
        args, export_dir=export_dir, duckdb_path=duckdb_path, dbt_vars=dbt_vars, target_path=target_path,
        console=console, show_progress=show_progress,
    )


# --- dbt's JSON log -----------------------------------------------------------------------------------

def _parse_event(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "info" in event else None


_RESULT_EVENTS = {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogNodeNoOpResult"}


def _track(event: dict, nodes: list[NodeResult], errors: list[str], progress, task) -> None:
    info, data = event["info"], event.get("data", {})
    name = info.get("name")
    if name == "LogStartLine" and progress is not None and data.get("total"):
        progress.update(task, total=data["total"])
    elif name in _RESULT_EVENTS or name == "LogSkipBecauseError" or name == "SkippingDetails":
        node = data.get("node_info", {})
        status = str(data.get("status") or node.get("node_status") or "").lower()
        if name in ("LogSkipBecauseError", "SkippingDetails"):
            status = "skipped"
        if status == "ok":
            status = "success"
        nodes.append(NodeResult(
            unique_id=node.get("unique_id", ""), resource_type=node.get("resource_type", ""),
            name=node.get("node_name", ""), status=status, execution_time=float(data.get("execution_time") or 0),
        ))
        if progress is not None:
            progress.advance(task)
    elif name in ("RunResultError", "RunResultErrorNoMessage"):
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
    elif info.get("level") == "error" and info.get("msg"):
        errors.append(info["msg"])


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
