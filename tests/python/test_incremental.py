"""Incremental nights (SPEC §2.3, §6): real daily exports appended night by night, each night the nightly's real
build step (a copy of the live warehouse, dbt merging the new delivery files, the swap), compared table by table
with one full build of the same files.

The identity that must hold: after any sequence of nights, every staged table, intermediate model and mart is
identical, row for row and type for type, to a full build of the export as it then is. The appended nights are
checked to hold what makes merging hard: a revert moved by a closed accounting period, re-sent rows, a late
re-delivery (a file whose name sorts before the newest one processed), a second batch, a deleted customer. One
night is killed with SIGKILL in the middle of dbt's merge and run again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orb_finance import cli, warehouse
from orb_finance.exports import deliveries
from orb_finance.exports.generate import generate_sample
from orb_finance.validate import ExportError, nested_folder_problem, stray_file_problem, validate_export

AS_OF = "2026-10-31"
HELD_BACK = 25                  # nights 2026-10-08 .. 2026-11-01 are appended by the tests
SCHEMAS = ("staging", "intermediate", "marts")


class Nights:
    """One installation fed night by night: a daily export, its live warehouse, and full builds to compare with."""

    def __init__(self, root: Path, seed: int, builder, home: Path):
        self.root, self.seed, self.builder = root, seed, builder
        self.export = root / "export"
        self.live = home / "live" / "orb_finance.duckdb"      # the session's sites share these (nights_home):
        self.target = home / "target-nightly"                 # dbt's partial parse stays warm
        self.live.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.live.parent.iterdir():              # the last site's warehouse
            stale.unlink()
        generate_sample(self.export, customers=30, months=3, seed=seed, layout="daily", hold_back_days=HELD_BACK)
        self.appended: list[str] = []                  # resource/file name, in the order the nights came
        self.late: list[str] = []                      # files delivered on a night after the day they are named by

    def append(self, days: int) -> None:
        for _ in range(days):
            night = deliveries.append_day(self.export).nights[0]
            names = deliveries.read_manifest(self.export)["nights"][night.isoformat()]
            self.appended += names
            self.late += [n for n in names if n.split("/", 1)[1][:10] < night.isoformat()]

    def as_of(self) -> str:
        """As on a real night, the as-of date is the newest day delivered (the default one before any night)."""
        return deliveries.read_manifest(self.export)["delivered_through"] or AS_OF

    def night(self, **kw) -> warehouse.SwapResult:
        return warehouse.build_and_swap(self.export, self.live, as_of=self.as_of(), target_path=self.target,
                                        show_progress=False, **kw)

    def full_build(self, name: str) -> Path:
        """A full build of the export as it is now, in a fresh file (dbt's unit tests left out: they test the
        code, which the first night's build already did)."""
        keep = self.root / f"{name}.duckdb"
        for stale in (self.builder.db_path, self.builder.db_path.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
        result = warehouse.build(self.export, self.builder.db_path, as_of=self.as_of(),
                                 target_path=self.builder.target_path, show_progress=False, skip_unit_tests=True)
        assert result.success, result.reason()
        shutil.copyfile(self.builder.db_path, keep)
        return keep


def differences(a: Path, b: Path) -> list[str]:
    """Every table of staging, intermediate and marts: same tables, same columns and types, same rows."""
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    found = []
    try:
        for schema in SCHEMAS:
            columns = {}
            for db in ("a", "b"):
                columns[db] = {}
                for table, column, data_type in con.execute(
                        "select table_name, column_name, data_type from duckdb_columns() "
                        f"where database_name = '{db}' and schema_name = '{schema}' order by table_name, column_index").fetchall():
                    columns[db].setdefault(table, []).append((column, data_type))
            if columns["a"].keys() != columns["b"].keys():
                found.append(f"{schema}: tables differ: {sorted(columns['a'].keys() ^ columns['b'].keys())}")
            for table in sorted(columns["a"].keys() & columns["b"].keys()):
                if columns["a"][table] != columns["b"][table]:
                    found.append(f"{schema}.{table}: columns differ")
                    continue
                n = con.execute(f"select count(*) from ((from a.{schema}.{table} except all from b.{schema}.{table}) "
                                f"union all (from b.{schema}.{table} except all from a.{schema}.{table}))").fetchall()[0][0]
                if n:
                    found.append(f"{schema}.{table}: {n} rows differ")
        rows = con.execute("select count(*) from a.marts.revenue_daily").fetchall()[0][0]
        assert rows > 0, "nothing was compared"
    finally:
        con.close()
    return found


def processed(live: Path) -> dict[str, int]:
    con = duckdb.connect(str(live), read_only=True)
    try:
        return dict(con.execute("select last_mode, count(*) from orb_state.staged_resources group by 1").fetchall())
    finally:
        con.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("incremental")


# --- the equality, seed after seed ---------------------------------------------------------------------------

KILLABLE_NIGHT = r"""
import sys
from orb_finance import warehouse
r = warehouse.build_and_swap(sys.argv[1], sys.argv[2], as_of=sys.argv[4], target_path=sys.argv[3], show_progress=False)
print("finished", r.swapped)
"""


def killed_night(site: Nights) -> None:
    """The nightly's build step in another process, killed with SIGKILL (it and its dbt) while dbt merges."""
    log = site.target / "incremental" / "logs" / "dbt.log"
    log.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_NIGHT, str(site.export), str(site.live), str(site.target),
                             site.as_of()],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        started = "START sql incremental model staging.stg_orb__daily_line_item_revenue"
        while not (log.exists() and started in log.read_text(errors="replace")):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "dbt never reached staging"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_nights_appended_one_at_a_time_equal_one_full_build_with_a_night_killed(base, dbt_builder, nights_home):
    """Seed 23, nights of 2 and 23 days; the second is first killed (test_incremental_nights.py: seed 5)."""
    nights_equal_one_full_build(base, dbt_builder, nights_home, seed=23, plan=(2, 23), killed=1)


def nights_equal_one_full_build(base: Path, dbt_builder, home: Path, *, seed: int, plan: tuple[int, ...],
                                killed: int | None):
    """Night after night (the days of `plan`), every table equals a full build of the final export. With `killed`:
    that night is first killed with SIGKILL in the middle of dbt's merge; yesterday's warehouse stays in place,
    whole, and the next run of the night catches up."""
    site = Nights(base / f"seed-{seed}", seed, dbt_builder, home)
    first = site.night()
    assert first.swapped, first.reason()
    assert first.started_from == "empty" and set(processed(site.live)) == {"full"}
    rebuilt_in_full = processed(site.live)["full"]
    for n, days in enumerate(plan):
        site.append(days)
        if n == killed:
            yesterday = (_sha256(site.live), site.live.stat().st_ino)
            killed_night(site)
            assert (_sha256(site.live), site.live.stat().st_ino) == yesterday
            assert warehouse.building_path(site.live).exists()      # the half-built copy, never swapped in
        result = site.night()
        assert result.swapped, result.reason()
        modes = processed(site.live)     # resources merged tonight say so; the others kept their table
        assert result.started_from == "copy" and modes["incremental"] > 0
        assert modes.get("full", 0) <= rebuilt_in_full and sum(modes.values()) == 26
        rebuilt_in_full = modes.get("full", 0)
        assert not warehouse.building_path(site.live).exists()
        if n > 0:       # the first incremental night parses the project for its own dbt target folder; then the
            # as-of date moves every night, and dbt parses nothing again: it reads the date (an env var, not a dbt
            # var) only when it compiles (macros/dates/dates.sql)
            assert result.dbt.full_parse == [], f"night {n} parsed the whole project: {result.dbt.full_parse}"
            assert result.dbt.reparsed == [], f"night {n} parsed files again: {result.dbt.reparsed}"
        # an incremental night's dbt profile: 3 threads (warehouse.NIGHT_DBT_THREADS)
        runs = result.dbt.log_file.read_text().split("Running with dbt=")
        assert "Concurrency: 3 threads" in runs[-1]
    assert deliveries.read_manifest(site.export)["delivered_through"] == "2026-11-01"

    # the appended nights hold the hard cases
    assert site.late, "a late re-delivery: a file whose name sorts before files already processed"
    assert any(n.endswith("-0001.parquet") and n not in site.late for n in site.appended), "a second batch"
    appended = [str(site.export / n) for n in site.appended]
    con = duckdb.connect()
    try:
        def count(resource: str, where: str) -> int:
            files = [f for f in appended if f"/{resource}/" in f]
            return con.execute(f"select count(*) from read_parquet({files}) where {where}").fetchall()[0][0] if files else 0
        assert count("customer", "deleted_at is not null") > 0, "a deleted customer"
        assert count("daily_line_item_revenue_event", "is_revert and lock_adjusted_timestamp > \"timestamp\"") > 0, \
            "a revert recognized after its period was closed"
        redelivered = con.execute(f"select count(*) - count(distinct id) from read_parquet("
                                  f"{[f for f in appended if '/daily_line_item_revenue_event/' in f]})").fetchall()[0][0]
    finally:
        con.close()
    assert redelivered > 0, "re-delivered rows"

    full = site.full_build("full")
    assert differences(site.live, full) == []
    shutil.copyfile(site.live, site.root / "live-final.duckdb")      # for the refusal tests below


# --- what an incremental build refuses ---------------------------------------------------------------------------

@pytest.fixture
def one_night(base, dbt_builder, nights_home, tmp_path):
    """A daily export and a warehouse that merged all of it (seed 23's, after its equality test above), both copies the
    test may change: the copy keeps every file's size and mtime, and the warehouse's record is pointed at the
    copy's paths."""
    source = base / "seed-23"
    if not (source / "live-final.duckdb").exists():           # run alone: make that state here
        site = Nights(source, 23, dbt_builder, nights_home)
        site.append(HELD_BACK)
        assert site.night().swapped
        shutil.copyfile(site.live, source / "live-final.duckdb")
    export = tmp_path / "export"
    shutil.copytree(source / "export", export, copy_function=shutil.copy2)
    db = dbt_builder.db_path                      # the session's path: dbt's partial parse stays warm
    db.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    shutil.copyfile(source / "live-final.duckdb", db)
    con = duckdb.connect(str(db))
    con.execute(f"update orb_state.processed_files set path = replace(path, '{source / 'export'}', '{export}')")
    con.execute(f"update orb_state.staged_resources set export_root = '{export}'")
    con.close()
    return export, db


@pytest.mark.slow
def test_a_rewritten_processed_file_stops_the_build_naming_it(one_night, dbt_builder):
    export, db = one_night
    rewritten = sorted((export / "invoice_metadata").iterdir())[-1]
    con = duckdb.connect()
    con.execute(f"copy (select * replace (memo || ' (edited)' as memo) from read_parquet('{rewritten}')) "
                f"to '{rewritten}.new' (format parquet)")
    con.close()
    os.replace(f"{rewritten}.new", rewritten)
    later = time.time() + 5
    os.utime(rewritten, (later, later))
    result = warehouse.build(export, db, as_of=AS_OF, target_path=dbt_builder.target_path, show_progress=False)
    assert not result.success
    assert f"{rewritten}: rewritten after it was processed" in result.reason()
    assert "run with --full-refresh" in result.reason()

    manifest = deliveries.read_manifest(export)
    removed = export / next(n for night, names in sorted(manifest["nights"].items()) for n in names
                            if n.split("/")[1][:10] < night)           # a late re-delivery: a copy, not needed
    removed.unlink()
    result = warehouse.build(export, db, as_of=AS_OF, target_path=dbt_builder.target_path, show_progress=False)
    assert f"{removed}: removed after it was processed" in result.reason()

    again = warehouse.build(export, db, as_of=AS_OF, target_path=dbt_builder.target_path, show_progress=False,
                            full_refresh=True)
    assert again.success, again.reason()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from orb_state.processed_files where path = ?", [str(removed)]).fetchall() == [(0,)]
    assert con.execute("select count(*) from orb_state.processed_files where path = ?", [str(rewritten)]).fetchall() == [(1,)]
    assert con.execute("select distinct last_mode from orb_state.staged_resources").fetchall() == [("full",)]
    con.close()


@pytest.mark.slow
def test_a_night_merging_a_row_that_fails_a_staging_check_is_not_swapped_in(one_night, nights_home):
    """The nightly's staging tests read the rows the night merged, from orb_state.merged_<resource> (not the staged
    table filtered by file): a new invoice of a customer Orb never delivered fails the relationship check of
    stg_orb__invoice_metadata, the night is not swapped in, and yesterday's warehouse is as it was."""
    export, db = one_night
    folder = export / "invoice_metadata"
    last = sorted(folder.glob("*.parquet"))[-1]
    con = duckdb.connect()
    day = con.execute(f"select cast(date '{last.name[:10]}' + 1 as varchar)").fetchall()[0][0]
    con.execute(f"copy (select * replace ('inv_of_nobody' as id, 'cus_nobody' as customer_id) "
                f"from read_parquet('{last}') limit 1) to '{folder / (day + '-0000.parquet')}' (format parquet)")
    con.close()
    before = _sha256(db)
    target = nights_home / "target-nightly"
    swap = warehouse.build_and_swap(export, db, as_of=AS_OF, target_path=target, show_progress=False)
    assert swap.started_from == "copy" and not swap.swapped
    failed = {n.name: n for n in swap.dbt.failures()}
    assert set(failed) == {"column_checks_stg_orb__invoice_metadata"}
    assert failed["column_checks_stg_orb__invoice_metadata"].failures == 1     # one check: the relationship
    compiled = next((target / "incremental" / "run").rglob("column_checks_stg_orb__invoice_metadata.sql")).read_text()
    assert "orb_state.merged_invoice_metadata" in compiled and "stg_orb__invoice_metadata\"" not in compiled
    assert _sha256(db) == before


@pytest.mark.slow
def test_a_stray_file_or_nested_folder_stops_orbfin_build_as_it_stops_the_nightly(one_night, capsys):
    export, db = one_night
    directory = export / "credit_note"
    stray = directory / "2026-10-07-0000.parquet.part"
    stray.write_bytes(b"half a delivery")
    nested = directory / "2026-10"
    nested.mkdir()
    shutil.copyfile(next(directory.glob("*.parquet")), nested / "2026-10-07-0000.parquet")
    problems = [nested_folder_problem(nested, directory), stray_file_problem(stray)]
    before = _sha256(db)
    capsys.readouterr()
    assert cli.main(["build", "--export-dir", str(export), "--duckdb-path", str(db), "--as-of", AS_OF]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert all(problem in said for problem in problems)             # `orbfin build` names both
    with pytest.raises(ExportError) as refused:
        validate_export(export, max_age_hours=0)
    assert refused.value.problems == problems                       # in the same words as the nightly
    assert _sha256(db) == before                                    # refused before anything was written
