"""Staging applies SPEC §2.2's row rules and types, on the hand-written export in fixtures/exports/staging_rules.

One real `dbt build --select staging` of that export, in three formats at once (CSV, gzip CSV, parquet
and JSON Lines); every expected value below is read off the fixture files by hand (see its README).
"""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import FIXTURES


@pytest.fixture(scope="module")
def staging_build(dbt_builder, tmp_path_factory):
    export = tmp_path_factory.mktemp("staging_rules") / "export"
    shutil.copytree(FIXTURES / "exports" / "staging_rules", export)
    # Same rows, other formats: the first invoice delivery gzip-compressed, the first revenue delivery parquet.
    first_invoices = export / "invoice_metadata" / "2026-10-31-0000.csv"
    with open(first_invoices, "rb") as src, gzip.open(first_invoices.with_suffix(".csv.gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    first_invoices.unlink()
    first_revenue = export / "daily_line_item_revenue" / "2026-10-31-0000.csv"
    duckdb.sql(f"copy (select * from read_csv('{first_revenue}', all_varchar=true)) "
               f"to '{first_revenue.with_suffix('.parquet')}' (format parquet)")
    first_revenue.unlink()

    db = tmp_path_factory.mktemp("staging_db") / "staged.duckdb"
    result = dbt_builder.build(export, select=["staging"], keep_as=db)
    assert result.success, result.reason()
    return result, db


@pytest.fixture(scope="module")
def staged(staging_build):
    con = duckdb.connect(str(staging_build[1]), read_only=True)
    yield con
    con.close()


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_latest_updated_at_wins(staged):
    assert rows(staged, "select status, paid_at from staging.stg_orb__invoice_metadata where invoice_id = 'inv_1'") == [
        ("paid", datetime(2026, 10, 12, 9, 0))
    ]
    assert rows(staged, "select name, billing_address from staging.stg_orb__customer where customer_id = 'cus_a'") == [
        ("Acme Corp", '{"city":"Lyon","country":"FR"}')
    ]


def test_tie_on_updated_at_takes_the_file_sorting_last(staged):
    assert rows(staged, "select memo, source_file like '%2026-11-01-0000.csv' from staging.stg_orb__invoice_metadata "
                        "where invoice_id = 'inv_3'") == [("second", True)]


def test_one_row_per_id(staged):
    assert rows(staged, "select count(*), count(distinct invoice_id) from staging.stg_orb__invoice_metadata") == [(4, 4)]
    assert rows(staged, "select count(*) from staging.stg_orb__customer") == [(3,)]


def test_deleted_rows_are_kept_and_flagged(staged):
    assert rows(staged, "select customer_id from staging.stg_orb__customer where is_deleted") == [("cus_del",)]
    assert rows(staged, "select invoice_id, status from staging.stg_orb__invoice_metadata where is_deleted") == [
        ("inv_4", "draft")
    ]


def test_offsets_are_converted_to_utc(staged):
    assert rows(staged, "select issued_at, invoice_date from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'") == [
        (datetime(2026, 9, 30, 23, 30), datetime(2026, 9, 30, 22, 0))
    ]


def test_money_is_decimal_and_exact(staged):
    types = dict(rows(staged, "select column_name, data_type from information_schema.columns "
                              "where table_schema = 'staging' and table_name = 'stg_orb__invoice_metadata'"))
    assert types["total"] == "DECIMAL(18,6)" and types["amount_due"] == "DECIMAL(18,6)"
    assert rows(staged, "select total from staging.stg_orb__invoice_metadata where invoice_id = 'inv_1'") == [
        (Decimal("108.250000"),)
    ]
    assert rows(staged, "select total from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'") == [
        (Decimal("5500.000000"),)
    ]


def test_reverted_rows_are_kept_and_flagged(staged):
    assert rows(staged, "select daily_line_item_revenue_id, is_reverted, reverted_at from staging.stg_orb__daily_line_item_revenue "
                        "order by 1") == [
        ("dlr_1", True, datetime(2026, 10, 25)),
        ("dlr_2", False, None),
    ]


def test_events_collapse_duplicates_but_never_merge_a_revert(staged):
    assert rows(staged, "select event_id, is_revert, rounded_amount, lock_adjusted_at "
                        "from staging.stg_orb__daily_line_item_revenue_event order by 1") == [
        ("evt_1", False, Decimal("3.330000"), datetime(2026, 10, 1)),
        ("evt_2", True, Decimal("3.330000"), datetime(2026, 11, 1)),
        ("evt_3", False, Decimal("4.000000"), datetime(2026, 11, 1)),
    ]


def test_extra_columns_are_ignored_and_missing_optional_ones_are_null(staged):
    columns = [r[0] for r in rows(staged, "select column_name from information_schema.columns "
                                          "where table_schema = 'staging' and table_name = 'stg_orb__customer'")]
    assert "region" not in columns
    # cus_b's delivery has no payment_provider column at all (optional), and an empty created_at.
    assert rows(staged, "select payment_provider, created_at from staging.stg_orb__customer where customer_id = 'cus_b'") == [
        (None, None)
    ]


def test_a_missing_optional_resource_is_empty(staged):
    assert rows(staged, "select count(*) from staging.stg_orb__credit_ledger_entry") == [(0,)]
    assert rows(staged, "select count(*) from staging.stg_orb__processor_payments") == [(0,)]


def test_source_lineage_points_at_file_and_row(staged):
    assert rows(staged, "select source_row, source_file like '%/customer/2026-10-31-0000.csv' "
                        "from staging.stg_orb__customer where customer_id = 'cus_del'") == [(3, True)]


def test_a_warning_names_its_test_its_rows_and_what_they_mean(staging_build):
    result, _ = staging_build
    # cnli_1 names an invoice line the export does not have; cnli_2 names none (no warning for it)
    [warned] = result.warnings()
    assert warned.name.startswith("relationships_stg_orb__credit_note_line_item_invoice_line_item_id")
    assert warned.failures == 1
    assert warned.meaning.startswith("credit-note lines naming an invoice line that is not in the export.")
    assert warned.path == "models/staging/orb/_orb__models.yml"
    assert result.summary().endswith(f"1 warn ({warned.name}: 1 row)")
    lines = result.warning_lines()
    assert lines[0] == f"warning: test {warned.name} found 1 row: {warned.meaning}"
    # then dbt's own warnings, e.g. the optional columns the first customer delivery leaves out
    assert ("warning: Orb export: customer: file " + str(result.log_warnings[0]).split("file ", 1)[1]) in lines
    assert "has no column 'payment_provider' (optional: read as null)" in lines[1]
    assert result.warnings_json()[0] == {"test": warned.name, "unique_id": warned.unique_id, "rows": 1,
                                         "meaning": warned.meaning, "defined_in": "models/staging/orb/_orb__models.yml"}
    assert result.warnings_json()[1] == {"message": result.log_warnings[0]}


def test_every_warning_test_of_the_project_says_what_its_rows_mean():
    """A test of severity warn never fails the build, so its rows need words: its meta.meaning (shown by orbfin
    build and the nightly's run.json)."""
    import re

    import yaml

    def configs(node):
        if isinstance(node, dict):
            if isinstance(node.get("config"), dict):
                yield node["config"]
            for value in node.values():
                yield from configs(value)
        elif isinstance(node, list):
            for value in node:
                yield from configs(value)

    root = FIXTURES.parents[2]
    found = 0
    for path in sorted((root / "models").rglob("*.yml")):
        for config in configs(yaml.safe_load(path.read_text())):
            if config.get("severity") == "warn":
                found += 1
                assert (config.get("meta") or {}).get("meaning"), f"{path}: a warn test without meta.meaning"
    for path in sorted((root / "tests" / "dbt").rglob("*.sql")):
        head = path.read_text()[:2000]
        if re.search(r"severity\s*=\s*'warn'", head):
            found += 1
            assert "'meaning':" in head, f"{path}: a warn test without meta meaning"
    assert found == 4
