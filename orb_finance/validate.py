"""Checks an Orb export directory before anything is built (SPEC §2, §6): the nightly's first step.

Owns what "usable" means without running dbt: the required resources have delivery files, every entry of a
resource directory is a file with a delivery extension (no stray file, no nested folder: `orbfin build` and
`dbt build` refuse the same, word for word, in `register_orb_sources`) that can be opened (parquet footer, CSV
header line, first JSON line), and the newest delivery is fresh enough. Column checks and value parsing stay
in dbt (`register_orb_sources`, staging).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import paths
from .errors import OrbFinanceError

SOURCES_YML = paths.PROJECT_ROOT / "models" / "staging" / "orb" / "_orb__sources.yml"
# The extensions `register_orb_sources` reads (macros/staging/register_orb_sources.sql).
DELIVERY_FORMATS = {".parquet": "parquet", ".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DELIVERY_SUFFIXES = tuple(DELIVERY_FORMATS)
DEFAULT_MAX_AGE_HOURS = 36.0
MAX_PROBLEMS_SHOWN = 20


class ExportError(OrbFinanceError):
    """The export cannot be built; `problems` lists every reason, each naming the file or directory."""

    def __init__(self, export_dir: Path, problems: list[str]):
        self.export_dir = export_dir
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = f"\n  - ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"The Orb export in {export_dir} is not usable:\n  - " + "\n  - ".join(shown) + more)

    def one_line(self) -> str:
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return f"{self.problems[0]}{more}"


@dataclass
class ExportCheck:
    """What the check found in a usable export."""
    export_dir: Path
    files_by_resource: dict[str, int]
    files: int
    bytes: int
    newest_file: Path | None
    newest_at: dt.datetime | None
    age_hours: float | None
    max_age_hours: float | None
    parquet_rows: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        present = sum(1 for n in self.files_by_resource.values() if n)
        age = f", newest delivery {self.age_hours:.1f} h old" if self.age_hours is not None else ""
        return f"{present} resources, {self.files} files, {self.bytes / 1e6:.1f} MB{age}"

    def details(self) -> dict:
        return {
            "export_dir": str(self.export_dir),
            "resources_present": sum(1 for n in self.files_by_resource.values() if n),
            "files": self.files,
            "bytes": self.bytes,
            "files_by_resource": dict(sorted(self.files_by_resource.items())),
            "newest_file": str(self.newest_file) if self.newest_file else None,
            "newest_at": self.newest_at.isoformat() if self.newest_at else None,
            "age_hours": round(self.age_hours, 2) if self.age_hours is not None else None,
            "max_age_hours": self.max_age_hours,
            "warnings": self.warnings,
        }


def source_resources(sources_yml: Path = SOURCES_YML) -> dict[str, bool]:
    """Every Orb resource of the export contract, and whether it is required (`meta.required_resource`)."""
    doc = yaml.safe_load(sources_yml.read_text(encoding="utf-8"))
    out: dict[str, bool] = {}
    for source in doc.get("sources", []):
        if source.get("name") != "orb":
            continue
        for table in source.get("tables", []):
            out[table["name"]] = bool((table.get("meta") or {}).get("required_resource"))
    return out


def delivery_format(name: str) -> str | None:
    """parquet, csv or jsonl for a delivery file's name; None for anything else."""
    lower = name.lower()
    return next((fmt for suffix, fmt in DELIVERY_FORMATS.items() if lower.endswith(suffix)), None)


def is_delivery_file(name: str) -> bool:
    return delivery_format(name) is not None


def stray_file_problem(path: Path | str) -> str:
    """The one message for a file in a resource directory that is not a delivery (the dbt hook
    register_orb_sources says the same, word for word)."""
    return (f"{path}: not a delivery file (expected {', '.join(DELIVERY_SUFFIXES)}); "
            "a delivery still being copied, or a stray file: remove or rename it")


def nested_folder_problem(path: Path | str, directory: Path | str) -> str:
    """The one message for a folder inside a resource directory (the dbt hook says the same)."""
    return f"{path}: a folder inside a resource directory (deliveries are files directly in {directory}/): remove or move it"


def validate_export(export_dir: str | os.PathLike[str], *, max_age_hours: float | None = DEFAULT_MAX_AGE_HOURS,
                    now: dt.datetime | None = None) -> ExportCheck:
    """Check the export; raises ExportError listing every problem, else returns what was found.

    max_age_hours None or 0 turns the freshness check off.
    """
    root = paths.resolve(export_dir)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ExportError(root, [f"Orb export directory {root} {what}"])
    now = now or dt.datetime.now(dt.timezone.utc)
    resources = source_resources()
    problems: list[str] = []
    warnings: list[str] = []

    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in resources and not entry.name.startswith((".", "_")):
            warnings.append(f"{entry}: not an Orb resource of the export contract; ignored")

    files_by_resource: dict[str, int] = {}
    n_files = n_bytes = parquet_rows = 0
    newest: tuple[float, Path] | None = None
    for resource, required in sorted(resources.items()):
        directory = root / resource
        if not directory.exists():
            files_by_resource[resource] = 0
            if required:
                problems.append(f"required resource '{resource}' is missing: no directory {directory}")
            continue
        if not directory.is_dir():
            problems.append(f"{directory} is not a directory (expected one sub-directory per resource)")
            continue
        count = candidates = 0
        for path in sorted(directory.iterdir()):
            if path.name.startswith((".", "_")):
                continue          # hidden files and markers such as _SUCCESS, as dbt ignores them
            if path.is_dir():
                problems.append(nested_folder_problem(path, directory))
                continue
            candidates += 1
            if not is_delivery_file(path.name):
                problems.append(stray_file_problem(path))
                continue
            problem, rows = _check_readable(path)
            if problem:
                problems.append(f"{path}: {problem}")
                continue
            stat = path.stat()
            count += 1
            n_bytes += stat.st_size
            parquet_rows += rows
            if newest is None or stat.st_mtime > newest[0]:
                newest = (stat.st_mtime, path)
        files_by_resource[resource] = count
        n_files += count
        if required and candidates == 0:
            problems.append(f"required resource '{resource}' has no delivery files in {directory}")

    newest_at = age_hours = None
    if newest is not None:
        newest_at = dt.datetime.fromtimestamp(newest[0], dt.timezone.utc)
        age_hours = max((now - newest_at).total_seconds() / 3600, 0.0)
        if max_age_hours and age_hours > max_age_hours:
            problems.append(f"the newest delivery, {newest[1]}, is {age_hours:.1f} hours old (limit "
                            f"{max_age_hours:g} h): the export has not been refreshed; check the export job, or "
                            "raise --max-age-hours")
    elif not problems:
        problems.append(f"Orb export directory {root} holds no delivery files")

    if problems:
        raise ExportError(root, problems)
    return ExportCheck(root, files_by_resource, n_files, n_bytes, newest[1] if newest else None, newest_at,
                       age_hours, max_age_hours or None, parquet_rows, warnings)


def _check_readable(path: Path) -> tuple[str | None, int]:
    """(problem, parquet row count): opens the file the cheap way its format allows."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            try:
                return None, pq.ParquetFile(path).metadata.num_rows
            except (OSError, ValueError) as exc:
                if isinstance(exc, PermissionError):
                    raise
                return f"not a readable parquet file ({_short(exc)})", 0
        if name.endswith((".csv", ".csv.gz")):
            opener = gzip.open if name.endswith(".gz") else open
            try:
                with opener(path, "rt", encoding="utf-8", newline="") as f:
                    header = f.readline()
            except (gzip.BadGzipFile, EOFError) as exc:
                return f"not a readable gzip file ({_short(exc)})", 0
            except UnicodeDecodeError:
                return "the header line is not UTF-8 text", 0
            if not header.strip():
                return "empty: a CSV delivery needs a header line", 0
            return None, 0
        with open(path, "rb") as f:              # JSON Lines: the first record must be a JSON object
            for raw in f:
                if raw.strip():
                    try:
                        record = json.loads(raw)
                    except ValueError as exc:
                        return f"the first line is not JSON ({_short(exc)})", 0
                    if not isinstance(record, dict):
                        return "the first line is not a JSON object", 0
                    break
        return None, 0                            # (an empty JSON Lines file is an empty delivery)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or _short(exc)})", 0


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("..." if len(text) > 200 else "")
