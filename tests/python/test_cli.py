"""The command line itself: every argument checked before any work starts, help and defaults on every option,
`--version`, and tables that fit the terminal (ids whole when they fit, cut in the middle when not, `--wide`).

No dbt here: a bad argument must fail before dbt starts, so these run in milliseconds.
"""

from __future__ import annotations

import argparse
import re

import pytest
from rich.console import Console

from orb_finance import cli
from orb_finance.sync.records import table as records_table
from orb_finance.sync.state import Record
from orb_finance.tables import middle


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:              # argparse: --help, --version, a value it refuses
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, message", [
    (["build", "--as-of", "yesterday"], "argument --as-of: 'yesterday' is not a date: write it as YYYY-MM-DD"),
    (["nightly", "--max-age-hours", "-5"], "argument --max-age-hours: -5 hours: must be 0 (no check) or more"),
    (["generate-sample", "--out", "x", "--customers", "0"], "argument --customers: 0 is out of range: 1 or more"),
    (["generate-sample", "--out", "x", "--months", "500"], "argument --months: 500 is out of range: from 2 to 120"),
    (["demo", "--customers", "many"], "argument --customers: 'many' is not a whole number"),
    (["journal", "export", "--month", "March"], "argument --month: 'March' is not a month: write it as YYYY-MM"),
    (["sync", "records", "--limit", "-1"], "argument --limit: -1 is out of range: 1 or more"),
    (["sync", "sandbox", "netsuite", "--port", "70000"], "argument --port: 70000 is out of range: from 0 to 65535"),
    (["build", "--reporting-currency", "dollars"], "argument --reporting-currency: 'dollars' is not an ISO 4217"),
    (["sync", "reconcile", "--as-of", "2026-02-30"], "argument --as-of: '2026-02-30' is not a date"),
])
def test_a_bad_argument_fails_at_once_naming_it(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err, err
    assert out == ""


def test_build_refuses_a_missing_export_before_dbt_starts(capsys, tmp_path):
    code, _, err = run(capsys, "build", "--export-dir", str(tmp_path / "nowhere"), "--as-of", "2026-10-31")
    assert code == 1
    assert f"the Orb export directory {tmp_path / 'nowhere'} does not exist" in err


def _options(parser: argparse.ArgumentParser, path: str = "orbfin"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction,)):
            yield path, action


def test_every_option_has_help_and_shows_its_default():
    parser = cli.build_parser()
    seen = 0
    for path, action in _options(parser):
        seen += 1
        assert action.help, f"{path} {action.option_strings or action.dest}: no help"
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            shown = cli.HelpFormatter("orbfin")._get_help_string(action) % {"default": action.default}
            assert "default" in shown, f"{path} {action.option_strings}: default not shown"
    assert seen > 80
    help_text = parser._subparsers._group_actions[0].choices["generate-sample"].format_help()
    assert re.search(r"--customers N\s+how many customers \(default: 200\)", help_text)


def test_version_names_the_parts(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and re.fullmatch(r"orbfin \d+\.\d+\.\d+ \(dbt-core [\d.]+, dbt-duckdb [\d.]+, duckdb [\d.]+, "
                                      r"beancount [\d.]+\)\n", out)


def _record(n: int, orb_id: str, error: str | None = None, object_type: str = "balance_transaction") -> Record:
    return Record(n, "2026-12-01T10:39:00Z", object_type, orb_id, "beancount", "create", f"{object_type}/{orb_id}/1",
                  "failed" if error else "synced", error, None, "INV-000183-0007", "10845679", "JPY", "run")


def _render(table, width: int) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(table)
    return console.export_text().splitlines()


def test_the_record_table_fits_80_columns_with_ids_whole():
    records = [_record(1953, "cbt_xk4kothk1z5OAWVw"), _record(12, "paid:inv_XLgY5XLur2PnjZ3G", "account closed",
                                                              "payment")]
    lines = _render(records_table(records, title="2 sync record(s)", width=80), 80)
    assert max(len(line.rstrip()) for line in lines) <= 80
    text = "\n".join(lines)
    assert "1953" in text and "cbt_xk4kothk1z5OAWVw" in text and "paid:inv_XLgY5XLur2PnjZ3G" in text
    assert "10845679 JPY" in text
    assert "error of record 12: account closed" in text           # narrow: the errors under the table
    # narrower still: the ids are cut in the middle, and the table says how to see them whole
    narrow_lines = _render(records_table(records, title="t", width=60), 60)
    narrow = "\n".join(narrow_lines)
    assert max(len(line.rstrip()) for line in narrow_lines) <= 60
    assert "paid:i…PnjZ3G" in narrow and "cbt_xk…5OAWVw" in narrow and "1953" in narrow
    assert "--wide shows them whole" in narrow
    # --wide: every column, nothing cut, however wide it gets
    wide = "\n".join(_render(records_table(records, title="t", wide=True), 200))
    assert "balance_transaction/cbt_xk4kothk1z5OAWVw/1" in wide and "INV-000183-0007" in wide
    assert "account closed" in wide and "…" not in wide


def test_ids_are_cut_in_the_middle():
    assert middle("paid:inv_XLgY5XLur2PnjZ3G", 13) == "paid:i…PnjZ3G"
    assert middle("inv_XLgY5XLur2PnjZ3G", 12) == "inv_XL…njZ3G"
    assert middle("short", 12) == "short"
