"""Where things are: the project root, and the export, warehouse and report paths resolved against it.

Relative paths (from the environment, a config file or the command line) are taken relative to the
project root, not the current directory (SPEC §2).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DUCKDB_PATH = "warehouse/orb_finance.duckdb"
DBT_TARGET_ENV = "ORB_DBT_TARGET_PATH"      # where dbt's target/ and logs/ go (default: in the project)


def resolve(path: str | os.PathLike[str]) -> Path:
    """An absolute path; a relative one is taken relative to the project root."""
    p = Path(os.path.expanduser(os.fspath(path)))
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def cli_path(path: str | os.PathLike[str]) -> Path:
    """A path given on the command line: relative to the current directory (SPEC §5)."""
    return Path(os.path.expanduser(os.fspath(path))).resolve()


def duckdb_path(override: str | os.PathLike[str] | None = None) -> Path:
    return resolve(override or os.environ.get("ORB_DUCKDB_PATH") or DEFAULT_DUCKDB_PATH)


def export_dir(override: str | os.PathLike[str] | None = None) -> Path | None:
    value = override or os.environ.get("ORB_EXPORT_PATH")
    return resolve(value) if value else None


def dbt_target_path(override: str | os.PathLike[str] | None = None) -> Path | None:
    """Where dbt writes its artifacts (target/) and logs (logs/ inside it): the override, else ORB_DBT_TARGET_PATH,
    else None (dbt's own target/ and logs/ in the project)."""
    value = override or os.environ.get(DBT_TARGET_ENV)
    return resolve(value) if value else None


def sql_string(path: str | os.PathLike[str]) -> str:
    """A path as a SQL string literal, quotes doubled (`o'reilly` -> 'o''reilly'): for DuckDB statements naming a file."""
    return "'" + os.fspath(path).replace("'", "''") + "'"
