"""Bad input stops the build with a message naming resource, file, row and column (SPEC §2.2 rule 4).

Each case breaks one thing in a copy of fixtures/exports/staging_rules and runs a real dbt build; the
build must fail and say exactly what and where. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture changed: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def drop_csv_column(path: Path, column: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    i = header.index(column)
    path.write_text("\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines) + "\n")


def build_error(dbt_builder, export: Path, select: list[str]) -> str:
    result = dbt_builder.build(export, select=select)
    assert not result.success, "the build should have failed"
    return result.reason()


def test_missing_export_directory(dbt_builder, tmp_path):
    reason = build_error(dbt_builder, tmp_path / "nowhere", ["stg_orb__customer"])
    assert f"Orb export directory {tmp_path / 'nowhere'} does not exist" in reason


def test_missing_required_resource(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    for f in (export / "customer").iterdir():
        f.unlink()
    (export / "customer").rmdir()
    reason = build_error(dbt_builder, export, ["stg_orb__invoice_metadata"])
    assert "required resource 'customer' has no delivery files" in reason
    assert str(export / "customer") in reason


def test_missing_required_column(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "invoice_metadata" / "2026-11-01-0000.csv"
    drop_csv_column(broken, "total")
    reason = build_error(dbt_builder, export, ["stg_orb__invoice_metadata"])
    assert f"resource 'invoice_metadata', file {broken}: missing required column 'total'" in reason


def test_unparseable_amount(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "invoice_metadata" / "2026-11-01-0000.csv"
    replace_in(broken, ",108.25,108.25,", ",108.25,\"108,25\",")
    reason = build_error(dbt_builder, export, ["stg_orb__invoice_metadata"])
    assert f"Orb export invoice_metadata: file {broken}, row 1, column amount_due: '108,25' is not a decimal number" in reason


def test_amount_with_more_decimals_than_the_type_is_not_rounded_silently(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "daily_line_item_revenue" / "2026-10-31-0000.csv"
    replace_in(broken, "3.333333,3.33,USD,USD,\ndlr_2", "3.3333333,3.33,USD,USD,\ndlr_2")
    reason = build_error(dbt_builder, export, ["stg_orb__daily_line_item_revenue"])
    assert f"file {broken}, row 1, column amount: '3.3333333' is not a decimal number" in reason


def test_unparseable_timestamp(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "invoice_metadata" / "2026-10-31-0000.csv"
    replace_in(broken, "2026-10-01T01:30:00+02:00", "2026-13-45 25:00")
    reason = build_error(dbt_builder, export, ["stg_orb__invoice_metadata"])
    assert f"Orb export invoice_metadata: file {broken}, row 2, column issued_at: '2026-13-45 25:00' is not a timestamp" in reason


def test_null_id(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "customer" / "2026-11-01-0000.jsonl"
    record = json.loads(broken.read_text())
    record["id"] = None
    broken.write_text(json.dumps(record) + "\n")
    reason = build_error(dbt_builder, export, ["stg_orb__customer"])
    assert f"Orb export customer: file {broken}, row 1, column id: is null (required)" in reason


def test_unknown_enum_value(dbt_builder, export_copy):
    export = export_copy("staging_rules")
    broken = export / "invoice_metadata" / "2026-11-01-0000.csv"
    replace_in(broken, ",paid,subscription,", ",refunded,subscription,")
    reason = build_error(dbt_builder, export, ["stg_orb__invoice_metadata"])
    assert re.search(
        rf"file {re.escape(str(broken))}, row 1, column status: 'refunded' is not one of: draft, issued, paid, void, synced",
        reason,
    )


@pytest.mark.parametrize("value", ["2026-02-30", "31/10/2026"])
def test_an_invalid_as_of_date_in_the_environment_is_named_with_its_origin(dbt_builder, export_copy, value):
    """`orbfin` checks --as-of itself; a plain `dbt build` reads env ORB_AS_OF_DATE (or the var as_of_date), and the
    error says which one holds what (a 30th of February included, which has the right form). dbt reads the date
    when it compiles a model that uses it (int_ar_aging_dates), not while it parses (macros/dates/dates.sql)."""
    from orb_finance import warehouse

    export = export_copy("staging_rules")
    result = warehouse.run_dbt(["compile", "--select", "int_ar_aging_dates"], export_dir=export, duckdb_path=dbt_builder.db_path,
                               target_path=dbt_builder.target_path, show_progress=False,
                               extra_env={"ORB_AS_OF_DATE": value})
    assert not result.success
    assert f"env ORB_AS_OF_DATE must be a date as YYYY-MM-DD, got '{value}'" in result.reason(), result.reason()
