"""The marts a controller asks for next (items, discounts, customer balances, month-end AR, cash, one reporting
currency) on real builds of generated exports: a nightly with --reporting-currency, more seeds whose builds run
every integrity test, the README's example questions run as written, and the reporting currency's bad input.

The rules themselves are pinned by the dbt unit tests (hand-worked rows) every build runs; here the identities
across marts must hold on data nobody chose, and errors must name what to fix.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pytest
from rich.console import Console

from orb_finance import cli, nightly, paths, warehouse
from orb_finance.errors import OrbFinanceError
from orb_finance.exports.generate import generate_sample
from orb_finance.reporting_currency import reporting_vars

AS_OF = "2026-10-31"
README = paths.PROJECT_ROOT / "README.md"
INTEGRITY_TESTS = sorted(p.stem for p in (paths.PROJECT_ROOT / "tests" / "dbt" / "integrity").glob("*.sql"))
NEW_MARTS = ("revenue_by_item_monthly", "billings_by_item_monthly", "discounts_monthly", "customer_balances",
             "ar_aging_monthly", "collections_monthly", "revenue_monthly_reporting", "billings_monthly_reporting",
             "consolidated_monthly")


def _export(root: Path, seed: int, **kw) -> Path:
    out = root / f"export-{seed}"
    generate_sample(out_dir=out, seed=seed, console=Console(file=io.StringIO()), **kw)
    return out


def _assert_every_integrity_test_passed(result: warehouse.DbtResult) -> None:
    assert result.success, result.reason()
    ran = {n.name: n.status for n in result.nodes if n.resource_type == "test" and n.name in INTEGRITY_TESTS}
    assert sorted(ran) == INTEGRITY_TESTS
    assert set(ran.values()) == {"pass"}, {k: v for k, v in ran.items() if v != "pass"}


# --- a night with a reporting currency -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def usd_night(tmp_path_factory):
    root = tmp_path_factory.mktemp("usd_night")
    export = _export(root, 31, customers=20, months=6)
    config = root / "accounting_sync.yml"
    config.write_text(f"provider: beancount\nstate_path: {root / 'state.sqlite'}\n"
                      f"beancount:\n  ledger_path: {root / 'orb.beancount'}\n")
    result = nightly.run(export, as_of=AS_OF, config=config, duckdb_path=root / "warehouse" / "orb_finance.duckdb",
                         reports_dir=root / "reports", target_path=root / "target", console=Console(file=io.StringIO()),
                         show_progress=False, reporting_currency="usd", fx_rates=export / "fx_rates.csv")
    return result


@pytest.mark.slow
def test_a_night_with_a_reporting_currency_builds_every_integrity_test_and_reports_it(usd_night):
    assert usd_night.exit_code == 0, usd_night.reason
    build = json.loads(usd_night.run_json.read_text())["steps"][1]["details"]
    assert build["reporting_currency"] == "USD" and build["fx_rates_path"].endswith("fx_rates.csv")
    con = duckdb.connect(str(usd_night.warehouse), read_only=True)
    try:
        for mart in NEW_MARTS:
            assert con.execute(f"select count(*) from marts.{mart}").fetchall()[0][0] > 0, mart
        months = con.execute("select month, reporting_currency from marts.consolidated_monthly order by month").fetchall()
        first, last = con.execute("select min(month), max(month) from marts.revenue_monthly").fetchall()[0]
    finally:
        con.close()
    assert {code for _, code in months} == {"USD"}
    assert months[0][0] <= first and months[-1][0] >= last and len(months) == len({m for m, _ in months})
    folder = usd_night.reports_folder
    wb = openpyxl.load_workbook(folder / f"orb-finance-{AS_OF}.xlsx", read_only=True)
    consolidated = list(wb["consolidated_monthly"].iter_rows(values_only=True))
    assert consolidated[0][:2] == ("Month", "Reporting currency") and len(consolidated) == len(months) + 1
    page = (folder / "summary.html").read_text()
    for chart in ("items-USD", "items-JPY", "ar-month-ends-USD", "consolidated-revenue", "consolidated-balances"):
        assert f'<svg data-chart="{chart}"' in page


@pytest.mark.slow
def test_item_marts_add_up_to_the_currency_totals_in_python_too(usd_night):
    """The integrity tests' identities, recomputed outside dbt with exact Decimals."""
    con = duckdb.connect(str(usd_night.warehouse), read_only=True)
    try:
        by_item = dict(((m, c), v) for m, c, v in con.execute(
            "select month, currency, sum(total_revenue) from marts.revenue_by_item_monthly group by all").fetchall())
        monthly = dict(((m, c), v) for m, c, v in con.execute(
            "select month, currency, total_revenue from marts.revenue_monthly").fetchall())
        billed = dict(((m, c), v) for m, c, v in con.execute(
            "select month, currency, sum(billed) from marts.billings_by_item_monthly group by all").fetchall())
        discounts = dict(((m, c), v) for m, c, v in con.execute(
            "select month, currency, billed from marts.discounts_monthly where billed <> 0 or list_price <> 0").fetchall())
        kinds = {r[0] for r in con.execute("select distinct item_id from marts.revenue_by_item_monthly").fetchall()}
    finally:
        con.close()
    assert by_item == monthly and billed == discounts
    assert "(prepaid credits)" in kinds and all(isinstance(v, Decimal) for v in monthly.values())


@pytest.mark.slow
def test_readme_example_questions_run_as_written(usd_night):
    section = README.read_text().split("## Questions the marts answer", 1)[1].split("\n## ", 1)[0]
    queries = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(queries) >= 12
    mentioned = {m for m in NEW_MARTS if f"marts.{m}" in section}
    assert mentioned == set(NEW_MARTS)
    con = duckdb.connect(str(usd_night.warehouse), read_only=True)
    try:
        for query in queries:
            rows = con.execute(query).fetchall()
            assert rows, query                                     # every question has an answer in the sample
    finally:
        con.close()


# --- more seeds: every integrity test on data nobody chose ---------------------------------------------------------

@pytest.fixture(scope="module")
def mid_month(dbt_builder, tmp_path_factory):
    """Another seed, shape and format (CSV), built with a reporting currency and aged in the middle of a month;
    the warehouse is kept as `db`."""
    root = tmp_path_factory.mktemp("mid_month")
    export = _export(root, 5, customers=12, months=4, end_date="2026-06-01", fmt="csv")
    as_of = "2026-05-20"
    for stale in (dbt_builder.db_path, dbt_builder.db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    dbt_vars = reporting_vars("USD", export / "fx_rates.csv")
    result = warehouse.build(export, dbt_builder.db_path, as_of=as_of, target_path=dbt_builder.target_path,
                             show_progress=False, dbt_vars=dbt_vars, skip_unit_tests=True)
    db = root / "mid_month.duckdb"
    if result.success:
        shutil.copyfile(dbt_builder.db_path, db)
    return {"export": export, "as_of": as_of, "dbt_vars": dbt_vars, "result": result, "db": db}


@pytest.mark.slow
def test_every_integrity_test_passes_on_another_seed_aged_mid_month(mid_month):
    """The as-of month's month-end AR is taken at the as-of date itself and still equals ar_aging_summary.
    (The nightly tests build seeds 11 and 31.)"""
    _assert_every_integrity_test_passed(mid_month["result"])
    as_of = mid_month["as_of"]
    con = duckdb.connect(str(mid_month["db"]), read_only=True)
    try:
        summary = con.execute("select currency, aging_bucket, invoice_count, amount_outstanding from marts.ar_aging_summary "
                              "order by all").fetchall()
        as_of_month = con.execute("select currency, aging_bucket, invoice_count, amount_outstanding from marts.ar_aging_monthly "
                                  "where as_of_date = ? and month_end = '2026-05-31' order by all", [as_of]).fetchall()
        month_ends = con.execute("select distinct month_end, as_of_date from marts.ar_aging_monthly order by 1").fetchall()
    finally:
        con.close()
    assert summary == as_of_month and summary
    assert [str(d) for _, d in month_ends][-2:] == ["2026-04-30", "2026-05-20"]


@pytest.mark.slow
def test_a_broken_column_check_fails_naming_check_column_and_example(mid_month, dbt_builder, tmp_path):
    """The column checks bite, on a copy of a built warehouse. One staging model's column_checks test (one node
    per model) fails, and each check broken by hand comes back as a stored row: the check, the column, how many
    rows or values, one example. A null in a contracted mart's column stops the mart's build, naming the column
    (the marts' not-null checks are constraints)."""
    assert mid_month["result"].success, mid_month["result"].reason()
    db = tmp_path / "broken.duckdb"
    shutil.copyfile(mid_month["db"], db)
    con = duckdb.connect(str(db))
    try:
        a, b, c, d, e = (i for (i,) in con.execute(
            "select invoice_id from staging.stg_orb__invoice_metadata where is_deleted = false order by invoice_id "
            "limit 5").fetchall())
        table = "staging.stg_orb__invoice_metadata"
        con.execute(f"update {table} set customer_id = null where invoice_id in (?, ?)", [a, b])   # 2 nulls
        con.execute(f"insert into {table} select * from {table} where invoice_id = ?", [c])        # c twice
        con.execute(f"update {table} set status = 'bogus' where invoice_id = ?", [d])              # not an Orb status
        con.execute(f"update {table} set customer_id = 'cus_not_exported' where invoice_id = ?", [e])  # no such customer
        con.execute("update intermediate.int_invoices_included set currency = null where invoice_id = "
                    "(select min(invoice_id) from intermediate.int_invoices_included)")
    finally:
        con.close()
    env = dict(export_dir=mid_month["export"], duckdb_path=db, target_path=dbt_builder.target_path, show_progress=False,
               dbt_vars=mid_month["dbt_vars"])       # the vars it was built with: no full parse
    tested = warehouse.run_dbt(["test", "--select", "column_checks_stg_orb__invoice_metadata", "--store-failures"],
                               **env)
    assert not tested.success
    assert [(n.name, n.status, n.failures) for n in tested.nodes] == [
        ("column_checks_stg_orb__invoice_metadata", "fail", 4)]
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("select check_name, column_name, failing_rows, example from "
                             "dbt_test__audit.column_checks_stg_orb__invoice_metadata order by all").fetchall()
    finally:
        con.close()
    assert stored == [("accepted_values", "status", 1, "bogus"),
                      ("not_null", "customer_id", 2, None),
                      ("relationships", "customer_id -> stg_orb__customer.customer_id", 1, "cus_not_exported"),
                      ("unique", "invoice_id", 1, c)]
    built = warehouse.run_dbt(["run", "--select", "billings_monthly"], **env)
    assert not built.success
    assert "NOT NULL constraint failed" in built.reason() and "currency" in built.reason(), built.reason()


# --- the reporting currency's bad input -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("small"), 7, customers=6, months=3)


def test_a_currency_without_an_earlier_rate_stops_the_build_naming_currency_and_day(small_export, dbt_builder, tmp_path):
    lines = (small_export / "fx_rates.csv").read_text().splitlines()
    first_jpy = next(line for line in lines if ",JPY," in line).split(",")[0]
    late = tmp_path / "late_jpy.csv"
    late.write_text("\n".join(line for line in lines if ",JPY," not in line) + "\n2026-09-15,JPY,0.0066\n")
    # models only (no tests): the error comes from int_fx_rates_daily, before any mart converts; a fresh file (a
    # selection leaves the models it does not build as an earlier build of another export left them)
    for stale in (dbt_builder.db_path, dbt_builder.db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    result = warehouse.build(small_export, dbt_builder.db_path, as_of=AS_OF, target_path=dbt_builder.target_path,
                             show_progress=False, select=["+int_fx_rates_daily"],
                             extra_args=["--exclude", "resource_type:test", "resource_type:unit_test"],
                             dbt_vars=reporting_vars("USD", late))
    assert not result.success
    assert f"Rate file {late}: no JPY rate on or before 2026-08-01" in result.reason()
    assert first_jpy < "2026-08-01"                     # the sample itself has JPY rates from before its first month


@pytest.mark.parametrize("content, message", [
    ('rate_date,currency,rate\n2026-09-01,EUR,1.08\n2026-09-02,EUR,"1,09"\n',
     "row 2, column rate: '1,09' is not a positive decimal"),
    ("rate_date,currency,rate\n2026-09-01,EUR,1.08\n2026-09-02,EURO,1.09\n",
     "row 2, column currency: 'EURO' is not an ISO 4217 currency code"),
    ("rate_date,currency,rate\n2026-09-01,EUR,1.08\n2026-09-01,eur,1.09\n",
     "rows 1 and 2 both give a rate for EUR on 2026-09-01"),
    ("rate_date,currency,rate\n2026-09-01,EUR,1.08\n2026-09-02,USD,0.93\n",
     "row 2, column rate: USD is the reporting currency (rate 1), the file gives 0.93"),
    ("rate_date,currency\n2026-09-01,EUR\n", "missing column(s) rate"),
], ids=["bad_decimal", "bad_code", "same_day_twice", "reporting_currency_not_1", "missing_column"])
def test_a_bad_rate_file_names_file_row_and_column(small_export, dbt_builder, tmp_path, monkeypatch, content, message):
    rates = tmp_path / "rates.csv"
    rates.write_text(content)
    # the file through ORB_FX_RATES_PATH: the same vars for every case, so dbt's partial parse is kept
    monkeypatch.setenv("ORB_FX_RATES_PATH", str(rates))
    result = warehouse.build(small_export, dbt_builder.db_path, target_path=dbt_builder.target_path, show_progress=False,
                             select=["stg_fx__rates"], dbt_vars={"reporting_currency": "USD"})
    assert not result.success
    assert str(rates) in result.reason() and message in result.reason(), result.reason()


def test_reporting_currency_options_are_checked_before_dbt_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ORB_FX_RATES_PATH", raising=False)
    rates = tmp_path / "rates.csv"
    rates.write_text("rate_date,currency,rate\n")
    assert reporting_vars(None, None) == {}
    assert reporting_vars(" eur ", rates) == {"reporting_currency": "EUR", "fx_rates_path": str(rates)}
    for currency, path, message in [("USD", None, "needs a rate file: --fx-rates FILE (or ORB_FX_RATES_PATH)"),
                                    ("US", rates, "must be an ISO 4217 currency code"),
                                    ("USD", tmp_path / "nope.csv", "nope.csv does not exist"),
                                    (None, rates, "--fx-rates needs --reporting-currency")]:
        with pytest.raises(OrbFinanceError, match=re.escape(message)):
            reporting_vars(currency, path)
    monkeypatch.setenv("ORB_FX_RATES_PATH", str(rates))
    assert reporting_vars("USD", None)["fx_rates_path"] == str(rates)
    # the command line refuses before dbt or the nightly starts: a bad code when it is parsed (exit 2), a missing
    # rate file before anything runs (exit 1, one line)
    with pytest.raises(SystemExit) as refused:
        cli.main(["build", "--export-dir", str(tmp_path), "--reporting-currency", "dollars"])
    assert refused.value.code == 2
    assert cli.main(["nightly", "--export-dir", str(tmp_path), "--reporting-currency", "USD", "--fx-rates",
                     str(tmp_path / "nope.csv"), "--reports-dir", str(tmp_path / "r"),
                     "--duckdb-path", str(tmp_path / "w.duckdb")]) == 1
    err = capsys.readouterr().err
    assert "'dollars' is not an ISO 4217 currency code such as USD" in err and "nope.csv does not exist" in err
    assert not (tmp_path / "r").exists()
