"""The five settings of SPEC §5, one test each, on the day-1 export (fixtures/sync_export/README.md).

Without settings day 1 sends 3 customers, 9 invoices, 3 credit memos and 3 payments; each test states which
objects a setting keeps out and checks both what was sent and why the others were skipped.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from orb_finance.errors import OrbFinanceError
from orb_finance.sync import settings as sync_settings

from .conftest import bean_check, bql


def sent(setup, object_type):
    return {r.orb_id for r in setup.records(object_type=object_type)}


def test_minimum_issue_date_keeps_invoices_issued_on_or_after_it(sync_setup, sync_warehouses):
    # inv_c2 was issued on 2026-01-25 (kept: on the date); inv_a1 (01-05), inv_b1 (01-15), inv_c1 (2025-12-20) are out
    sync_setup.write(minimum_issue_date="2026-01-25")
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    assert sent(sync_setup, "invoice") == {"inv_a2", "inv_a3", "inv_a4", "inv_a5", "inv_b2", "inv_c2"}
    # their payments are dependents of skipped invoices: skipped too, with the reason
    assert sent(sync_setup, "payment") == {"pa_b2"}
    skips = {oid: why for _, oid, why in result.skips}
    assert skips["inv_c1"] == "issued 2025-12-20, before minimum_issue_date 2026-01-25"
    assert skips["pa_a1"].startswith("invoice inv_a1 skipped: issued 2026-01-05")
    assert sent(sync_setup, "customer") == {"cus_acme", "cus_bolt", "cus_cobalt"}


def test_minimum_issue_date_leaves_out_a_customer_with_no_invoice_left(sync_setup, sync_warehouses):
    sync_setup.write(minimum_issue_date="2026-02-01")      # both of Cobalt's invoices are earlier
    sync_setup.run(sync_warehouses.day1)
    assert sent(sync_setup, "customer") == {"cus_acme", "cus_bolt"}


def test_minimum_amount_keeps_invoices_whose_total_is_at_least_it(sync_setup, sync_warehouses):
    # inv_a5 is exactly 12.50 (kept); inv_a3 (0.00) and inv_c2 (5.00) are below
    sync_setup.write(minimum_amount="12.50")
    result = sync_setup.run(sync_warehouses.day1)
    assert sent(sync_setup, "invoice") == {"inv_a1", "inv_a2", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c1"}
    assert dict((oid, why) for _, oid, why in result.skips)["inv_c2"] == \
        "total 5.00 USD is below minimum_amount 12.50"


def test_skip_zero_invoices_leaves_out_only_the_zero_invoice(sync_setup, sync_warehouses):
    sync_setup.write(skip_zero_invoices=True)
    result = sync_setup.run(sync_warehouses.day1)
    assert sent(sync_setup, "invoice") == {"inv_a1", "inv_a2", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c1",
                                          "inv_c2"}
    assert result.skips == [("invoice", "inv_a3", "zero invoice (skip_zero_invoices)")]


def test_skip_zero_line_items_drops_zero_lines_from_the_booked_invoice(sync_setup, sync_warehouses):
    query = "SELECT meta('orb_line_id') WHERE account ~ '^Income:Revenue' AND number = 0"
    sync_setup.run(sync_warehouses.day1)
    assert sorted(r[0] for r in bql(sync_setup.ledger, query)) == ["ili_a1_2", "ili_a3_1"]

    other = type(sync_setup)(sync_setup.root / "skip_lines")
    other.root.mkdir()
    other.write(skip_zero_line_items=True)
    other.run(sync_warehouses.day1)
    assert bql(other.ledger, query) == []                   # the 0.00 lines are gone ...
    assert bql(other.ledger, "SELECT meta('orb_line_id') WHERE entry_meta('orb_id') = 'inv_a1' "
                             "AND account ~ '^Income:Revenue'") == [("ili_a1_1",)]
    assert sent(other, "invoice") == sent(sync_setup, "invoice")   # ... the invoices are all still there
    assert bean_check(other.ledger).returncode == 0


def test_create_customers_off_skips_every_record_of_an_unmapped_customer(sync_setup, sync_warehouses):
    sync_setup.write(create_customers=False)
    result = sync_setup.run(sync_warehouses.day1)
    assert sync_setup.records() == []
    reasons = dict(((t, oid), why) for t, oid, why in result.skips)
    assert reasons[("customer", "cus_bolt")].startswith("no provider customer is mapped and create_customers is off")
    assert reasons[("invoice", "inv_b2")].startswith("customer cus_bolt skipped: no provider customer is mapped")
    assert reasons[("payment", "pa_b2")].startswith("invoice inv_b2 skipped: customer cus_bolt skipped")
    assert reasons[("credit_memo", "cn_b2")].startswith("invoice inv_b2 skipped")


def test_create_customers_off_syncs_a_mapped_customer_into_the_mapped_account(sync_setup, sync_warehouses):
    sync_setup.write(create_customers=False)
    mapped = sync_setup.cli("map-customer", "cus_acme", "AcmeLegacy", check=True)
    assert "mapped to beancount customer AcmeLegacy" in mapped.stdout
    result = sync_setup.run(sync_warehouses.day1)
    assert result.ok
    assert sent(sync_setup, "invoice") == {"inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_a5"}
    assert sent(sync_setup, "customer") == {"cus_acme"}      # the map record only: nothing created
    assert [r.action for r in sync_setup.records(object_type="customer")] == ["map"]
    assert bql(sync_setup.ledger, "SELECT account, sum(position) WHERE account ~ '^Assets:Receivable' "
                                  "GROUP BY account") == [("Assets:Receivable:USD:AcmeLegacy",
                                                           [(Decimal("200.50"), "USD")])]
    assert bean_check(sync_setup.ledger).returncode == 0


def test_secrets_are_refused_in_the_settings_file(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("provider: tryton\ntryton:\n  url: http://127.0.0.1:1\n  password: hunter2\n")
    with pytest.raises(OrbFinanceError, match="password.*environment variable") as err:
        sync_settings.load(path)
    assert "hunter2" not in str(err.value)


def test_unknown_settings_are_an_error_naming_them(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("provider: beancount\nminimum_amout: 5\n")
    with pytest.raises(OrbFinanceError, match="minimum_amout"):
        sync_settings.load(path)


def test_a_typo_in_a_provider_section_is_an_error_naming_the_key_and_the_allowed_ones(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("provider: beancount\nbeancount:\n  ledger: books.beancount\n")
    with pytest.raises(OrbFinanceError, match=r"beancount: unknown setting\(s\) ledger; allowed here: accounts, "
                                              r"check_after_run, ledger_path, open_date"):
        sync_settings.load(path)


def test_an_impossible_date_is_a_clear_error_not_a_traceback(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("provider: beancount\nminimum_issue_date: 2026-02-30\n")
    with pytest.raises(OrbFinanceError, match="minimum_issue_date: must be a date YYYY-MM-DD, got '2026-02-30'"):
        sync_settings.load(path)


def test_relative_paths_in_the_file_are_relative_to_its_folder_and_on_the_command_line_to_the_current_one(
        tmp_path, sync_warehouses):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "sync.yml").write_text("provider: beancount\nstate_path: state/sync.sqlite\n"
                                       "beancount:\n  ledger_path: books/orb.beancount\n")
    settings = sync_settings.load(conf_dir / "sync.yml")
    assert settings.state_path == conf_dir / "state" / "sync.sqlite"
    assert settings.provider_settings["ledger_path"] == conf_dir / "books" / "orb.beancount"
    # from another folder, --config conf/sync.yml is found relative to it, and the ledger lands beside the file
    proc = subprocess.run([sys.executable, "-m", "orb_finance.cli", "sync", "run", "--config", "conf/sync.yml",
                           "--duckdb-path", str(sync_warehouses.day1)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (conf_dir / "books" / "orb.beancount").exists() and (conf_dir / "state" / "sync.sqlite").exists()
