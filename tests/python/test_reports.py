"""The nightly reports on a small hand-made warehouse: every finance mart as a table with its contract's
columns (from _finance__models.yml), a few rows worked out by hand in USD, JPY and KWD.

No dbt here (test_nightly.py runs the real build): these tests pin what the files hold, cell by cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pytest
import yaml

from orb_finance.reports import marts as marts_mod
from orb_finance.reports.bundle import write_reports
from orb_finance.reports.csv_export import mart_csv
from orb_finance.reports.html import SyncSnapshot, compact, nice_ticks
from orb_finance.reports.workbook import build_workbook, money_format

AS_OF = dt.date(2026, 10, 31)
D = Decimal


def _create_marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute("create schema seeds")
    con.execute("create table seeds.currencies as select * from read_csv(?, all_varchar = true)",
                [str(marts_mod.FINANCE_MODELS_YML.parents[3] / "seeds" / "currencies.csv")])
    con.execute("create or replace table seeds.currencies as select currency_code, cast(minor_unit as integer) "
                "as minor_unit, currency_name from seeds.currencies")
    doc = yaml.safe_load(marts_mod.FINANCE_MODELS_YML.read_text())
    for model in doc["models"]:
        cols = ", ".join(f"{c['name']} {c['data_type']}" for c in model["columns"])
        con.execute(f"create table marts.{model['name']} ({cols})")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "hand.duckdb"
    con = duckdb.connect(str(path))
    _create_marts(con)
    con.execute("""insert into marts.billings_monthly values
        ('2026-09-01', 'USD', 2, 1000.00, 100.00, 0, 900.00),
        ('2026-10-01', 'USD', 1, 1234.5, 0, 0, 1234.5),
        ('2026-10-01', 'JPY', 1, 120000, 0, 0, 120000),
        ('2026-10-01', 'KWD', 1, 10.125, 0, 0.0005, 10.1245)""")
    con.execute("""insert into marts.revenue_monthly values
        ('2026-09-01', 'USD', 800, 0, 0, 0, 800),
        ('2026-10-01', 'USD', 1000, 50, 0, -20, 1030),
        ('2026-10-01', 'JPY', 90000, 0, 0, 0, 90000)""")
    con.execute("""insert into marts.ar_aging values
        ('inv_1', '2026-10-31', 'INV-1', 'cus_1', 'Acme', 'USD', '2026-08-01', '2026-09-15', 46, '31-60', 500, 0, 500),
        ('inv_2', '2026-10-31', '=HYPERLINK(1)', 'cus_2', 'Bravo', 'USD', '2026-10-01', '2026-11-15', -15, 'current', 734.5, 0, 734.5),
        ('inv_3', '2026-10-31', 'INV-3', 'cus_3', 'Chiyoda', 'JPY', '2026-10-01', '2026-10-15', 16, '1-30', 120000, 0, 120000)""")
    con.execute("""insert into marts.ar_aging_summary
        select 'USD', b, o, '2026-10-31', n, a from (values ('current', 1, 1, 734.5), ('1-30', 2, 0, 0),
            ('31-60', 3, 1, 500), ('61-90', 4, 0, 0), ('91+', 5, 0, 0)) t(b, o, n, a)
        union all
        select 'JPY', b, o, '2026-10-31', n, a from (values ('current', 1, 0, 0), ('1-30', 2, 1, 120000),
            ('31-60', 3, 0, 0), ('61-90', 4, 0, 0), ('91+', 5, 0, 0)) t(b, o, n, a)""")
    con.execute("""insert into marts.deferred_revenue_rollforward values
        ('2026-09-01', 'USD', 0, 1000, 800, 200),
        ('2026-10-01', 'USD', 200, 1234.5, 1030, 404.5),
        ('2026-10-01', 'JPY', 0, 120000, 90000, 30000)""")
    con.execute("""insert into marts.credit_note_summary values
        ('2026-09-01', 'USD', 1, 100, '<script>alert(1)</script>, -1+1')""")
    con.close()
    return path


def test_money_formats_follow_the_currency_minor_unit():
    assert money_format(2) == "#,##0.00"
    assert money_format(0) == "#,##0"
    assert money_format(3) == "#,##0.000"
    units = {"USD": 2, "JPY": 0, "KWD": 3}
    assert marts_mod.format_money(D("1234.5"), "USD", units) == "1,234.50"
    assert marts_mod.format_money(D("2.5"), "JPY", units) == "3"          # half away from zero
    assert marts_mod.format_money(D("-2.5"), "JPY", units) == "-3"
    assert marts_mod.format_money(D("10.1245"), "KWD", units) == "10.125"
    assert marts_mod.format_money(D("-0.001"), "USD", units) == "0.00"     # no "-0.00"


def test_axis_ticks_are_round_numbers_covering_the_values():
    assert nice_ticks(D(0), D(1030)) == [D(0), D(250), D(500), D(750), D(1000), D(1250)]
    assert nice_ticks(D(-841.51), D(0)) == [D(-1000), D(-800), D(-600), D(-400), D(-200), D(0)]
    assert nice_ticks(D(0), D(0)) == [D("0"), D("0.2"), D("0.4"), D("0.6"), D("0.8"), D("1.0")]
    assert [compact(v) for v in (D(1250000), D(2500), D("0.5"), D(-2000))] == ["1.25M", "2.5k", "0.5", "-2k"]


def test_workbook_has_one_sheet_per_mart_with_typed_money_frozen_header_and_filters(warehouse, tmp_path):
    marts, units = marts_mod.read_marts(warehouse)
    data, notes = build_workbook(marts, units, AS_OF)
    assert notes == []
    path = tmp_path / "w.xlsx"
    path.write_bytes(data)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == marts_mod.finance_mart_names()
    assert len(wb.sheetnames) == 11

    ws = wb["billings_monthly"]
    assert [c.value for c in ws[1]] == ["month", "currency", "invoice_count", "gross_billings", "credit_notes",
                                        "customer_balance_applied", "net_billings"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:G5"          # header + 4 rows
    # rows ordered by month, then currency: 2026-09 USD, 2026-10 JPY, 2026-10 KWD, 2026-10 USD
    assert [(r[0].value.date(), r[1].value) for r in ws.iter_rows(min_row=2)] == [
        (dt.date(2026, 9, 1), "USD"), (dt.date(2026, 10, 1), "JPY"), (dt.date(2026, 10, 1), "KWD"),
        (dt.date(2026, 10, 1), "USD")]
    jpy, kwd, usd = ws[3], ws[4], ws[5]
    assert (jpy[6].value, jpy[6].number_format) == (120000, "#,##0")
    assert (kwd[6].value, kwd[6].number_format) == (pytest.approx(10.1245), "#,##0.000")
    assert (usd[6].value, usd[6].number_format) == (1234.5, "#,##0.00")
    assert isinstance(usd[6].value, (int, float)) and usd[6].data_type == "n"   # a number, not text
    assert usd[0].number_format == "yyyy-mm-dd"

    aging = wb["ar_aging"]
    # ordered by currency, most overdue first: JPY inv_3, USD inv_1 (46 days), USD inv_2 (-15 days)
    assert [r[0].value for r in aging.iter_rows(min_row=2)] == ["inv_3", "inv_1", "inv_2"]
    formula_like = aging["C4"]
    assert formula_like.value == "=HYPERLINK(1)" and formula_like.data_type == "s"   # text, never a formula

    summary = wb["ar_aging_summary"]
    assert [r[1].value for r in summary.iter_rows(min_row=2, max_row=6)] == ["current", "1-30", "31-60", "61-90", "91+"]
    assert wb["payment_reconciliation"].auto_filter.ref == "A1:G1"  # empty mart: header and filter only


def test_workbook_bytes_depend_only_on_the_data_and_date(warehouse, tmp_path):
    marts, units = marts_mod.read_marts(warehouse)
    first, _ = build_workbook(marts, units, AS_OF)
    second, _ = build_workbook(marts, units, AS_OF)
    assert first == second
    wb = openpyxl.load_workbook(io.BytesIO(first))
    assert wb.properties.modified == dt.datetime(2026, 10, 31) == wb.properties.created
    other_day, _ = build_workbook(marts, units, dt.date(2026, 11, 1))
    assert other_day != first


def test_a_mart_longer_than_a_sheet_is_cut_with_a_note(warehouse):
    marts, units = marts_mod.read_marts(warehouse)
    data, notes = build_workbook(marts, units, AS_OF, max_rows=2)
    assert notes[0].startswith("billings_monthly: 4 rows, more than a sheet holds; the sheet has the first 2")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb["billings_monthly"].max_row == 3 and wb.sheetnames[-1] == "notes"


def test_csv_holds_exact_decimals_and_neutralised_text(warehouse):
    marts, _ = marts_mod.read_marts(warehouse)
    by_name = {m.name: m for m in marts}
    lines = mart_csv(by_name["billings_monthly"]).split("\r\n")
    assert lines[0] == "month,currency,invoice_count,gross_billings,credit_notes,customer_balance_applied,net_billings"
    assert lines[3] == "2026-10-01,KWD,1,10.125000,0.000000,0.000500,10.124500"
    assert lines[4] == "2026-10-01,USD,1,1234.500000,0.000000,0.000000,1234.500000"
    aging = list(csv.reader(io.StringIO(mart_csv(by_name["ar_aging"]))))
    assert aging[3][2] == "'=HYPERLINK(1)"              # a spreadsheet shows it as text
    assert aging[1][8] == "16" and aging[3][8] == "-15"  # numbers keep their sign
    notes = list(csv.reader(io.StringIO(mart_csv(by_name["credit_note_summary"]))))
    assert notes[1][4] == "<script>alert(1)</script>, -1+1"


def test_html_summary_is_self_contained_with_a_chart_per_currency(warehouse, tmp_path):
    sync = SyncSnapshot("beancount", {"customer": {"synced": 3}, "invoice": {"synced": 2, "failed": 1}},
                        [{"record_id": 7, "object_type": "invoice", "orb_id": "inv_9", "invoice_number": "INV-9",
                          "amount": "12.50", "currency": "USD", "error": "account <X> is closed"}])
    files = write_reports(warehouse, tmp_path, AS_OF, sync)
    page = files.summary.read_text()
    assert files.folder == tmp_path / "2026-10-31"
    assert not re.search(r"https?://", page)
    assert not re.search(r"""(src|href)\s*=""", page)                   # nothing loaded from anywhere
    assert "<script" not in page.replace("&lt;script", "")
    charts = re.findall(r'<svg data-chart="([^"]+)"', page)
    # revenue and billings for JPY, KWD, USD; aging for JPY and USD (the currencies with open invoices);
    # deferred for JPY, KWD, USD (KWD has none: an empty card, no chart); one sync chart
    assert sorted(charts) == sorted(["revenue-JPY", "revenue-USD", "billings-JPY", "billings-KWD", "billings-USD",
                                     "aging-JPY", "aging-USD", "deferred-JPY", "deferred-USD", "sync-status"])
    assert "USD <span class=\"muted\">total 1,830.00</span>" in page    # revenue 800 + 1030
    assert "outstanding 1,234.50, past due 500.00" in page                 # USD aging
    assert "outstanding 120,000, past due 120,000" in page                 # JPY: no decimals
    assert "Oct 2026: 404.50 deferred" in page
    assert "account &lt;X&gt; is closed" in page and "Failed records (1)" in page
    # headlines, latest billed month per currency: KWD 10.1245 shows as 10.125 (3 decimals, half away from 0)
    assert ('<tr><td>KWD</td><td>2026-10-01</td><td class="num">10.125</td><td class="num">0.000</td>') in page
    assert ('<tr><td>USD</td><td>2026-10-01</td><td class="num">1,234.50</td><td class="num">1,030.00</td>'
            '<td class="num">1,234.50</td><td class="num">500.00</td><td class="num">404.50</td></tr>') in page
    for name in files.csvs:
        assert name.parent == files.folder / "csv"
    assert sorted(p.name for p in files.csvs) == sorted(f"{n}.csv" for n in marts_mod.finance_mart_names())
