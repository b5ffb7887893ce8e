"""Shared pytest fixtures: real dbt builds on real DuckDB files.

dbt parses the whole project again (19 s against 6 s for a partial parse, measured 2026-12-01) when its target
folder is new or its profile or command-line vars changed, and the DuckDB path is part of the profile; so the
session builds every warehouse at one path (partial parsing stays warm) and a test that wants to keep its
warehouse copies it. (The as-of date is an env var, not a var: changing it costs no full parse.)
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from orb_finance import warehouse

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Builder:
    db_path: Path
    target_path: Path

    def build(self, export_dir: Path, *, select: list[str] | None = None, as_of: str | None = None,
              keep_as: Path | None = None, unit_tests: bool = False) -> warehouse.DbtResult:
        """A fresh `dbt build` of `export_dir` (optionally a selection); copies the result to keep_as. dbt's unit
        tests are left out unless asked for: they depend on the code alone, not on the export, and every nightly
        test's first night runs all of them (test_nightly checks that each one ran and passed)."""
        for stale in (self.db_path, self.db_path.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
        result = warehouse.build(export_dir, self.db_path, as_of=as_of, select=select,
                                 target_path=self.target_path, show_progress=False, skip_unit_tests=not unit_tests)
        if keep_as is not None and self.db_path.exists():
            shutil.copyfile(self.db_path, keep_as)
        return result

    def connect(self, path: Path | None = None) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(path or self.db_path), read_only=True)


# The files whose tests take longest go first: pytest-xdist hands files to the two sessions in this order, so the
# longest ones start at once and the sessions finish together (measured 2026-12-01, make test's durations). The
# Makefile passes --no-loadscope-reorder: by default xdist orders files by their number of tests, most first, which
# sent these (one to three tests each, four minutes apiece) last. It gives each session two files at the start
# (the 1st and 3rd, the 2nd and 4th): the two longest are not followed by the third longest.
SLOWEST_FIRST = ["test_incremental.py", "test_incremental_nights.py", "test_finance_marts.py",
                 "test_incremental_old_days.py", "test_tryton_sync.py", "test_nightly.py",
                 "test_provider_conformance.py",
                 "test_netsuite_sync.py", "test_ledger_ties_out.py", "test_revenue_recognition.py",
                 "test_quickbooks_sync.py", "test_bad_deliveries.py", "test_bad_input.py", "test_generator.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: n for n, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))      # stable: a file's own order is kept


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder of expensive session fixtures (e.g. dbt-built warehouses) made once for every session of the run:
    under pytest-xdist each session would build its own. The first session to take the lock makes it with
    `make(folder)`; the others wait and reuse it. What is in it is only ever read."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if base.name.startswith("popen-gw") else base) / "built-once"
    shared.mkdir(exist_ok=True)
    folder = shared / name
    with open(shared / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / ".built").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                (folder / ".built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def build_once(tmp_path_factory):
    """`build_once(name, make)`: built_once for this run (see above)."""
    return lambda name, make: built_once(tmp_path_factory, name, make)


@pytest.fixture(scope="session", autouse=True)
def own_dbt_target(tmp_path_factory: pytest.TempPathFactory):
    """dbt's artifacts and logs of a test that names no target path go to this session's own folder, not the
    project's target/: `make test` runs two sessions side by side (pytest-xdist), and two dbt processes writing one
    target/ (partial_parse.msgpack, manifest.json) at once would corrupt it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORB_DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt-target")))
        yield


@pytest.fixture(scope="session", autouse=True)
def dbt_call_log(request):
    """With env ORB_TEST_DBT_LOG=<file>: one JSON line per dbt run of this session (the test, the command, its
    seconds, why dbt parsed the whole project if it did), to see where make test's time goes."""
    log = os.environ.get("ORB_TEST_DBT_LOG")
    if not log:
        yield
        return
    run_dbt = warehouse.run_dbt

    def logged(args, **kw):
        result = run_dbt(args, **kw)
        with open(log, "a") as f:
            f.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", ""), "command": list(args)[:1],
                                "db": str(kw.get("duckdb_path") or ""), "seconds": round(result.elapsed, 2),
                                "full_parse": result.full_parse}) + "\n")
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(warehouse, "run_dbt", logged)
        yield


@pytest.fixture(scope="session")
def dbt_builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    # An apostrophe in the folder and in the file name: every build of the suite proves that paths (and the catalog
    # dbt-duckdb names after the file) are quoted wherever SQL is built with them.
    root = tmp_path_factory.mktemp("dbt") / "o'reilly's warehouse"
    root.mkdir()
    return Builder(db_path=root / "o'reilly.duckdb", target_path=root / "target")


@pytest.fixture(scope="session")
def nights_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the incremental tests' nightly installations keep their live warehouse and dbt target folders: one
    place for the session's sites, one after another, so that dbt's partial parse stays warm from one test file to
    the next (a new target folder or warehouse path costs a full parse, 19 s)."""
    return tmp_path_factory.mktemp("nights")


@pytest.fixture
def export_copy(tmp_path: Path):
    """Copy a committed fixture export into tmp_path so a test can change it."""
    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / "exports" / name, dest)
        return dest
    return copy
