"""How orbfin hears from dbt (orb_finance/dbt_events.py): dbt's console log is off, a callback forwards the events
orbfin reads, and dbt's own log file still holds every event."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orb_finance import paths, warehouse
from orb_finance.dbt_events import AWAIT_COMMAND

FIXTURES = Path(__file__).parent / "fixtures"


def run(args: list[str], tmp_path: Path) -> warehouse.DbtResult:
    return warehouse.run_dbt(args, export_dir=FIXTURES / "exports" / "staging_rules", duckdb_path=tmp_path / "w.duckdb",
                             target_path=tmp_path / "target", show_progress=False)


def test_a_usage_error_exits_2_and_says_what_was_wrong(tmp_path):
    result = run(["build", "--no-such-option"], tmp_path)
    assert result.returncode == 2
    assert "No such option" in result.reason() and "--no-such-option" in result.reason()


def test_dbt_warnings_reach_orbfin_and_dbt_log_keeps_every_event(tmp_path):
    result = run(["build", "--select", "no_model_has_this_name"], tmp_path)
    assert result.success and result.nodes == []
    assert any("'no_model_has_this_name' does not match any enabled nodes" in w for w in result.log_warnings)
    log = (tmp_path / "target" / "logs" / "dbt.log").read_text()
    assert "[debug]" in log and "Running with dbt=" in log           # debug events too, in dbt's text format
    assert not any(line.startswith('{"data"') for line in log.splitlines())       # not JSON lines


def test_a_dbt_process_started_ahead_runs_its_command_in_the_environment_of_the_command(tmp_path):
    # started (and importing dbt) before the command is known, with another target folder in its environment
    spawned_with = warehouse.dbt_environment(None, tmp_path / "w.duckdb", tmp_path / "not-this-target")
    with warehouse.DbtProcess(spawned_with) as process:
        result = warehouse.run_dbt(["build", "--select", "no_model_has_this_name"],
                                   export_dir=FIXTURES / "exports" / "staging_rules", duckdb_path=tmp_path / "w.duckdb",
                                   target_path=tmp_path / "target", show_progress=False, process=process)
    assert result.success and result.nodes == []
    assert any("'no_model_has_this_name' does not match any enabled nodes" in w for w in result.log_warnings)
    assert "Running with dbt=" in (tmp_path / "target" / "logs" / "dbt.log").read_text()
    assert not (tmp_path / "not-this-target").exists()


def test_a_dbt_process_left_without_a_command_runs_nothing_and_is_gone(tmp_path):
    process = warehouse.DbtProcess(warehouse.dbt_environment(None, tmp_path / "w.duckdb", tmp_path / "target"))
    with process:
        pass
    assert process.proc.returncode is not None
    assert not (tmp_path / "target").exists()
    # end of input instead of a command: once dbt is imported it exits 0, having run nothing
    ended = subprocess.run([sys.executable, "-m", "orb_finance.dbt_events", AWAIT_COMMAND], input="",
                           capture_output=True, text=True, cwd=paths.PROJECT_ROOT, timeout=120,
                           env=warehouse.dbt_environment(None, tmp_path / "w.duckdb", tmp_path / "target"))
    assert (ended.returncode, ended.stdout, ended.stderr) == (0, "", "")
    assert not (tmp_path / "target").exists()
