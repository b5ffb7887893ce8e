"""How orbfin hears from dbt (orb_finance/dbt_events.py): dbt's console log is off, a callback forwards the events
orbfin reads, and dbt's own log file still holds every event."""

from __future__ import annotations

from pathlib import Path

from orb_finance import warehouse

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
