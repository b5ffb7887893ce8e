"""Bad deliveries, round two (issue 17): every error points at the right file, row and column, and nothing conflicting
passes unnoticed. Real dbt builds of the hand-written exports in fixtures/exports/ (their README.md says what each
row is for); the expected messages are worked out from those files by hand.

Every export here is copied under a folder whose name holds an apostrophe, and the session's warehouse file is
named o'reilly.duckdb (conftest.py): paths are quoted wherever SQL is built with them.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orb_finance import cli, paths, warehouse
from orb_finance.errors import OrbFinanceError

FIXTURES = Path(__file__).parent / "fixtures" / "exports"


@pytest.fixture
def export_at(tmp_path):
    """Copy a committed fixture export to `<tmp>/o'reilly's exports/<name>` (README.md left out)."""
    def copy(name: str) -> Path:
        dest = tmp_path / "o'reilly's exports" / name
        shutil.copytree(FIXTURES / name, dest, ignore=shutil.ignore_patterns("README.md"))
        return dest
    return copy


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- the source hook: what it refuses, all at once, before anything is built ----------------------------------

def test_every_bad_delivery_file_is_named_with_its_line_and_what_is_wrong(dbt_builder, export_at):
    export = export_at("bad_deliveries")
    folder = export / "invoice_metadata"        # the same invoices as parquet: total DECIMAL, then DOUBLE
    con = duckdb.connect()
    for name, total_type in (("2026-10-31-0000", "decimal(18, 2)"), ("2026-11-01-0000", "double")):
        con.execute(f"copy (select * replace (cast(subtotal as decimal(18, 2)) as subtotal, cast(total as {total_type}) "
                    f"as total, cast(amount_due as decimal(18, 2)) as amount_due) from read_csv(?, all_varchar = true)) "
                    f"to {paths.sql_string(folder / f'{name}.parquet')}", [str(folder / f"{name}.csv")])
        (folder / f"{name}.csv").unlink()
    con.close()

    result = dbt_builder.build(export, select=["stg_orb__invoice_metadata"])
    assert not result.success
    said = one_line(result.reason())
    expected = [
        # a record one field short, after a record whose quoted name spans two lines: line 4, the 2nd record
        f"resource 'customer', file {export}/customer/2026-10-31-0000.csv, line 4 (row 2): "
        "expected 9 fields (as many as the header names), got 8",
        f"resource 'daily_line_item_revenue', file {export}/daily_line_item_revenue/2026-10-31-0000.csv, line 3 (row 2): "
        "expected 22 fields (as many as the header names), got 23",
        f"resource 'invoice_metadata', file {folder}/2026-11-01-0000.parquet: column 'total' is DOUBLE (a binary "
        "floating-point number); floats are refused for money and quantities",
        f"resource 'credit_note', file {export}/credit_note/2026-11-01-0000.csv: the file is empty",
        f"resource 'item', file {export}/item/2026-11-01-0000.csv: the header names column 'name' more than once",
        f"resource 'payment_attempt', file {export}/payment_attempt/2026-11-01-0000.csv: the header is one field "
        "('id;created_at;updated_at;",
    ]
    for message in expected:
        assert message in said
    assert "2026-10-31-0000.parquet" not in said         # the DECIMAL delivery is not blamed
    assert "missing required column" not in said         # no file falls back to one column


# --- values: refused where the engine would be lenient ---------------------------------------------------------

def test_infinity_and_underscored_amounts_are_refused_naming_file_row_and_column(dbt_builder, export_at):
    export = export_at("lenient_values")
    result = dbt_builder.build(export, select=["stg_orb__invoice_metadata", "stg_orb__daily_line_item_revenue"])
    assert not result.success
    messages = {f.name: one_line(f.message or "") for f in result.failures()}
    assert (f"Orb export invoice_metadata: file {export}/invoice_metadata/2026-10-31-0000.csv, row 2, column due_date: "
            "'infinity' is not a timestamp") in messages["stg_orb__invoice_metadata"]
    assert (f"Orb export daily_line_item_revenue: file {export}/daily_line_item_revenue/2026-10-31-0000.csv, row 1, "
            "column amount: '1_000' is not a decimal number") in messages["stg_orb__daily_line_item_revenue"]


# --- what is awkward but valid is read exactly, paths with apostrophes included ----------------------------------

LONG_MEMO = "long memo " * 300_000           # 3,000,000 characters: over DuckDB's default line limit of 2 MB


def test_orbfin_build_reads_a_3_mb_memo_crlf_and_bom_under_paths_with_apostrophes(dbt_builder, export_at, monkeypatch, capsys):
    export = export_at("awkward_but_valid")
    invoices = export / "invoice_metadata" / "2026-10-31-0000.csv"
    invoices.write_text(invoices.read_text().replace("LONG_MEMO", LONG_MEMO))
    db = dbt_builder.db_path
    assert "'" in str(db) and "'" in str(export)
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    monkeypatch.setenv("DBT_TARGET_PATH", str(dbt_builder.target_path))   # the session's dbt state: no re-parse
    code = cli.main(["build", "--export-dir", str(export), "--duckdb-path", str(db),
                     "--select", "stg_orb__customer", "stg_orb__invoice_metadata"])
    assert code == 0, capsys.readouterr().err
    con = dbt_builder.connect()
    try:
        assert con.execute("select name from staging.stg_orb__customer").fetchall() == [('O\'Reilly, "Books"',)]
        memos = con.execute("select invoice_id, memo, source_row from staging.stg_orb__invoice_metadata "
                            "order by invoice_id").fetchall()
    finally:
        con.close()
    assert memos == [("inv_1", 'a memo, with "quotes"\nand a second line', 1), ("inv_2", LONG_MEMO, 2),
                     ("inv_3", "short", 3)]


def test_a_warehouse_name_with_a_double_quote_is_refused_before_dbt_starts(tmp_path):
    db = tmp_path / 'the "main" books.duckdb'          # dbt-duckdb would render the catalog as "the "main" books"
    with pytest.raises(OrbFinanceError, match="holds a double quote"):
        warehouse.build(FIXTURES / "awkward_but_valid", db, show_progress=False)
    assert not db.exists()


def test_a_sample_export_is_written_under_a_path_with_an_apostrophe(tmp_path):
    from orb_finance.exports.generate import generate_sample

    out = tmp_path / "o'reilly's sample"
    generate_sample(out, customers=2, months=2, seed=3, fmt="csv")
    assert (out / "customer").is_dir() and any((out / "invoice_metadata").iterdir())


# --- an event delivered twice with different values ---------------------------------------------------------------

def conflict_message(export: Path, first_value: str) -> str:
    """cle_evt_1: row 1 of the first delivery (recognized_revenue_amount 0.00), row 2 of the second (777777.00)."""
    folder = export / "credit_ledger_entry_event"
    return ("Orb export credit_ledger_entry_event: event cle_evt_1 was delivered with different values (an event never "
            f"changes): file {folder / '2026-10-31-0000.csv'} row 1 and file {folder / '2026-11-01-0000.csv'} row 2 "
            f"differ in recognized_revenue_amount ('{first_value}' vs '777777.00')")


EVENTS = ["stg_orb__credit_ledger_entry_event", "source:orb.credit_ledger_entry_event"]


def test_an_event_delivered_twice_with_different_values_fails_the_build(dbt_builder, export_at):
    export = export_at("conflicting_events")
    result = dbt_builder.build(export, select=EVENTS)
    assert not result.success
    said = one_line(result.reason())
    assert conflict_message(export, "0.00") in said
    assert "cle_evt_2" not in said and "more events" not in said      # its copies agree: '-25.000' is -25, ...
    skipped = {n.name for n in result.nodes if n.status == "skipped"}
    assert "stg_orb__credit_ledger_entry_event" in skipped            # the test ran first: nothing was staged


def test_a_changed_copy_arriving_on_a_later_night_is_caught_by_the_incremental_build(dbt_builder, export_at, tmp_path):
    export = export_at("conflicting_events")
    later = export / "credit_ledger_entry_event" / "2026-11-01-0000.csv"
    held_back = tmp_path / later.name
    shutil.move(later, held_back)
    first = dbt_builder.build(export, select=EVENTS)                   # night 1: the first delivery alone
    assert first.success, first.reason()

    shutil.move(held_back, later)                                     # night 2: the changed copy arrives
    tonight = warehouse._incremental_selection(dbt_builder.db_path, export)       # what the nightly would select
    assert {"stg_orb__credit_ledger_entry_event", "source:orb.credit_ledger_entry_event"} <= set(tonight)
    second = warehouse.build(export, dbt_builder.db_path, select=EVENTS, target_path=dbt_builder.target_path,
                             show_progress=False)
    assert not second.success
    assert conflict_message(export, "0.000000") in one_line(second.reason())      # night 1's copy, as staged
    con = dbt_builder.connect()
    try:
        assert con.execute("select last_mode from orb_state.staged_resources "
                           "where resource = 'credit_ledger_entry_event'").fetchall() == [("full",)]   # night 1's
        staged = con.execute("select event_id, recognized_revenue_amount from staging.stg_orb__credit_ledger_entry_event "
                             "order by event_id").fetchall()
    finally:
        con.close()
    assert staged == [("cle_evt_1", Decimal("0.000000")), ("cle_evt_2", Decimal("25.000000"))]   # untouched
