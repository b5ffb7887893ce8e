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
from orb_finance.reports.display import display_mart, display_marts
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
        ('2026-10-01', 'JPY', 0, 120000, 90000, 30000),
        ('2026-10-01', 'KWD', 0, 10.1245, 20.0005, -9.876)""")
    con.execute("""insert into marts.credit_note_summary values
        ('2026-09-01', 'USD', 1, 100, '<script>alert(1)</script>, -1+1')""")
    con.execute("""insert into marts.revenue_by_item_monthly values
        ('2026-09-01', 'USD', 'item_api', 'API requests', 800, 0, 0, 800),
        ('2026-10-01', 'USD', 'item_api', 'API requests', 1000, 0, -20, 980),
        ('2026-10-01', 'USD', '(prepaid credits)', '(prepaid credits)', 0, 50, 0, 50),
        ('2026-10-01', 'JPY', 'item_seats', 'Seats', 90000, 0, 0, 90000)""")
    con.execute("""insert into marts.ar_aging_monthly
        select '2026-09-30', 'USD', b, o, '2026-09-30', n, a from (values ('current', 1, 1, 500), ('1-30', 2, 0, 0),
            ('31-60', 3, 0, 0), ('61-90', 4, 0, 0), ('91+', 5, 0, 0)) t(b, o, n, a)
        union all
        select '2026-10-31', 'USD', b, o, '2026-10-31', n, a from (values ('current', 1, 1, 734.5), ('1-30', 2, 0, 0),
            ('31-60', 3, 1, 500), ('61-90', 4, 0, 0), ('91+', 5, 0, 0)) t(b, o, n, a)""")
    con.execute("""insert into marts.customer_balances values
        ('cus_3', 'JPY', 'Chiyoda', '2026-10-31', 120000, 0, 1500.5)""")
    con.execute("""insert into marts.revenue_monthly_reporting values
        ('2026-10-01', 'JPY', 'USD', 0.0066666667, 90000, 600.00, 0, 0, 0, 0, 0, 0, 90000, 600.00)""")
    con.execute("""insert into marts.consolidated_monthly values
        ('2026-09-01', 'USD', 900.00, 800.00, 200.00, 500.00),
        ('2026-10-01', 'USD', 2034.50, 1630.00, 604.50, 2034.50)""")
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
    data, notes = build_workbook(display_marts(marts, units), units, AS_OF,
                                 facts=[("Source (Orb export)", "/data/orb-export")])
    assert notes == []
    path = tmp_path / "w.xlsx"
    path.write_bytes(data)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["cover", *marts_mod.finance_mart_names(), "definitions"]
    assert len(wb.sheetnames) == 21

    ws = wb["billings_monthly"]
    assert [c.value for c in ws[1]] == ["Month", "Currency", "Invoice count", "Gross billings", "Credit notes",
                                        "Customer balance applied", "Net billings"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:G5"          # header + 4 rows
    # rows ordered by month, then currency: 2026-09 USD, 2026-10 JPY, 2026-10 KWD, 2026-10 USD
    assert [(r[0].value.date(), r[1].value) for r in ws.iter_rows(min_row=2)] == [
        (dt.date(2026, 9, 1), "USD"), (dt.date(2026, 10, 1), "JPY"), (dt.date(2026, 10, 1), "KWD"),
        (dt.date(2026, 10, 1), "USD")]
    jpy, kwd, usd = ws[3], ws[4], ws[5]
    assert (jpy[6].value, jpy[6].number_format) == (120000, "#,##0")
    # shown rounded: KWD 10.125 - 0 - 0.001 (0.0005 rounded half away from zero) = 10.124, the sum of the parts
    # shown beside it (the exact 10.1245 is in the CSV file)
    assert [c.value for c in kwd[3:7]] == [pytest.approx(10.125), 0, pytest.approx(0.001), pytest.approx(10.124)]
    assert kwd[6].number_format == "#,##0.000"
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
    assert wb["payment_reconciliation"].auto_filter.ref == "A1:J1"  # empty mart: header and filter only

    # every mart sheet prints landscape, one page wide, its header on every page; each column is as wide as its
    # header and its widest value (ids whole)
    for name in marts_mod.finance_mart_names():
        sheet = wb[name]
        setup = sheet.page_setup
        assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0), name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_rows == "$1:$1", name
        for column in sheet.iter_cols():
            width = sheet.column_dimensions[column[0].column_letter].width
            longest = max(len(str(c.value)) for c in column if c.value is not None and not isinstance(c.value, dt.datetime))
            assert width >= longest, (name, column[0].value, width)

    cover = wb["cover"]
    assert cover["A1"].value == "Orb finance as of 2026-10-31"
    facts = {r[0].value: r[1].value for r in cover.iter_rows() if r[0].value and len(r) > 1}
    assert facts["Source (Orb export)"] == "/data/orb-export"
    assert facts["Reporting currency"] == "USD"
    assert "rounded to that currency's minor unit" in facts["Amounts"] and "csv/<sheet>.csv" in facts["Amounts"]
    assert facts["Unbilled revenue"].startswith("Recognized but not yet billed")
    listed = {r[0].value: (r[1].value, r[2].value) for r in cover.iter_rows() if r[0].value in wb.sheetnames}
    assert listed["billings_monthly"] == ("What did we invoice each month, after credit notes and customer balance?", 4)
    assert listed["ar_aging"][1] == 3 and cover.page_setup.orientation == "landscape"
    definitions = {(r[0].value, r[2].value): (r[1].value, r[3].value) for r in wb["definitions"].iter_rows(min_row=2)}
    assert definitions[("billings_monthly", "month")] == (
        "Month", "Month of the invoices' invoice_date. First day of the calendar month (UTC), as a date.")
    assert definitions[("ar_aging", "customer_name")][0] == "Customer name"

    # converted amounts are in the reporting currency, source amounts in their own; rates and credit units are no money
    converted = wb["revenue_monthly_reporting"]
    header = [c.value for c in converted[1]]
    row = {name: cell for name, cell in zip(header, converted[2])}
    assert (row["Usage revenue"].value, row["Usage revenue"].number_format) == (90000, "#,##0")               # JPY
    assert (row["Usage revenue (reporting currency)"].value,
            row["Usage revenue (reporting currency)"].number_format) == (600, "#,##0.00")
    assert row["Average rate"].number_format == "0.0000000000"
    assert row["Average rate"].value == pytest.approx(0.0066666667)
    balances = wb["customer_balances"]
    row = {c.value: cell for c, cell in zip(balances[1], balances[2])}
    assert row["AR outstanding"].number_format == "#,##0"                                               # JPY
    assert (row["Prepaid credit units"].value, row["Prepaid credit units"].number_format) == (1500.5, "#,##0.######")
    consolidated = wb["consolidated_monthly"]
    assert [c.number_format for c in consolidated[3]][2:] == ["#,##0.00"] * 4                           # all USD


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
    units = {"USD": 2, "JPY": 0, "KWD": 3}
    lines = mart_csv(by_name["billings_monthly"], units).split("\r\n")
    assert lines[0] == "month,currency,invoice_count,gross_billings,credit_notes,customer_balance_applied,net_billings"
    # money with the currency's decimals, and every further digit the exact value has (never rounded)
    assert lines[2] == "2026-10-01,JPY,1,120000,0,0,120000"
    assert lines[3] == "2026-10-01,KWD,1,10.125,0.000,0.0005,10.1245"
    assert lines[4] == "2026-10-01,USD,1,1234.50,0.00,0.00,1234.50"
    converted = mart_csv(by_name["revenue_monthly_reporting"], units).split("\r\n")[1].split(",")
    assert converted[3:6] == ["0.0066666667", "90000", "600.00"]     # rate as stored; JPY source, USD converted
    aging = list(csv.reader(io.StringIO(mart_csv(by_name["ar_aging"], units))))
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
    # deferred for JPY, KWD, USD; revenue by item for JPY and USD;
    # month-end AR for USD; the consolidated revenue and balances; one sync chart
    assert sorted(charts) == sorted(["revenue-JPY", "revenue-USD", "billings-JPY", "billings-KWD", "billings-USD",
                                     "aging-JPY", "aging-USD", "deferred-JPY", "deferred-KWD", "deferred-USD",
                                     "items-JPY", "items-USD",
                                     "ar-month-ends-USD", "consolidated-revenue", "consolidated-balances",
                                     "sync-status"])
    assert "USD <span class=\"muted\">total 1,830.00</span>" in page    # by item: 800 + 980 + 50, as revenue_monthly
    assert "API requests (item_api): 1,780.00 USD" in page                  # 800 + 980 over both months
    assert "31 Oct 2026: 1,234.50" in page                                   # AR at the last month end
    assert "total revenue 2,430.00 USD" in page                              # consolidated 800 + 1630
    assert "USD <span class=\"muted\">total 1,830.00</span>" in page    # revenue 800 + 1030
    assert "outstanding 1,234.50, past due 500.00" in page                 # USD aging
    assert "outstanding 120,000, past due 120,000" in page                 # JPY: no decimals
    assert "Oct 2026: 404.50 deferred revenue" in page
    # KWD's negative balance is unbilled revenue: an asset, shown as such and not painted as an error
    assert "Oct 2026: 9.876 unbilled revenue" in page and "neg" not in page
    # AR by customer: the name with its Orb id, largest open balance first
    assert page.index("Bravo<br><code class=\"id\">cus_2</code>") < page.index("Acme<br><code class=\"id\">cus_1</code>")
    assert "account &lt;X&gt; is closed" in page and "Failed records (1)" in page
    # headlines, latest billed month per currency, as shown: KWD net billings 10.125 - 0.001 = 10.124 (the parts
    # rounded to 3 decimals, half away from 0, then added); its roll-forward balance -9.876 is unbilled revenue
    assert ('<tr><td>KWD</td><td>Oct 2026</td><td class="num">10.124</td><td class="num">0.000</td>'
            '<td class="num">0.000</td><td class="num">0.000</td><td class="num">0.000</td><td class="num">9.876</td>'
            '</tr>') in page
    assert ('<tr><td>USD</td><td>Oct 2026</td><td class="num">1,234.50</td><td class="num">1,030.00</td>'
            '<td class="num">1,234.50</td><td class="num">500.00</td><td class="num">404.50</td>'
            '<td class="num">0.00</td></tr>') in page
    for name in files.csvs:
        assert name.parent == files.folder / "csv"
    assert sorted(p.name for p in files.csvs) == sorted(f"{n}.csv" for n in marts_mod.finance_mart_names())


def test_html_without_a_reporting_currency_says_how_to_get_one(warehouse, tmp_path):
    marts, units = marts_mod.read_marts(warehouse)
    empty = [marts_mod.Mart(m.name, m.columns, []) if m.name == "consolidated_monthly" else m for m in marts]
    from orb_finance.reports.html import render_summary
    page = render_summary(AS_OF, {m.name: m for m in empty}, units, [], None)
    assert "No reporting currency" in page and "--reporting-currency USD --fx-rates FILE" in page
    assert 'data-chart="consolidated-revenue"' not in page


def _mart(name: str, columns: list[tuple[str, str]], rows: list[tuple]) -> marts_mod.Mart:
    return marts_mod.Mart(name, [marts_mod.Column(n, t) for n, t in columns], rows)


MONEY = "DECIMAL(38,6)"


def test_a_displayed_row_adds_up_to_its_displayed_total():
    # exact: 10.004 + 0.004 + 0.004 - 0.004 = 10.008 (10.01 rounded); shown: 10.00 + 0.00 + 0.00 + 0.00 = 10.00
    revenue = _mart("revenue_monthly", [("month", "DATE"), ("currency", "VARCHAR"), ("usage_revenue", MONEY),
                                        ("credit_consumption_revenue", MONEY), ("credit_breakage_revenue", MONEY),
                                        ("credit_note_revenue", MONEY), ("total_revenue", MONEY)],
                    [(dt.date(2026, 10, 1), "USD", D("10.004"), D("0.004"), D("0.004"), D("-0.004"), D("10.008"))])
    assert display_mart(revenue, {"USD": 2}).rows[0][2:] == (D("10.00"), D("0.00"), D("0.00"), D("0.00"), D("10.00"))
    # the discount ladder keeps billed (whole cents, what was invoiced): its rounding step takes the difference
    # billed 100.00 = list 120.006 - discounts 20.002 + rounding -0.004; shown 120.01 - 20.00 + (-0.01) = 100.00
    discounts = _mart("discounts_monthly", [("month", "DATE"), ("currency", "VARCHAR"), ("list_price", MONEY),
                                            ("discounts", MONEY), ("credits_applied", MONEY),
                                            ("partially_invoiced", MONEY), ("rounding", MONEY), ("billed", MONEY),
                                            ("coupon_redemption_count", "BIGINT")],
                      [(dt.date(2026, 10, 1), "USD", D("120.006"), D("20.002"), D(0), D(0), D("-0.004"), D("100"), 1)])
    assert display_mart(discounts, {"USD": 2}).rows[0][2:] == (D("120.01"), D("20.00"), D("0.00"), D("0.00"),
                                                                D("-0.01"), D("100.00"), 1)


def test_the_displayed_rollforward_rounds_running_totals_so_every_row_adds_up():
    # billed 10.004 in September; recognized 3.333, 3.333, 3.334. Running totals rounded: billed 10.00 throughout;
    # recognized 3.33, 6.67, 10.00, so each month shows 3.33, 3.34, 3.33 and the closings 6.67, 3.33, 0.00
    # (exact 6.671, 3.338, 0.004: each within one cent; October shows 3.33 where 3.338 rounds to 3.34)
    columns = [("month", "DATE"), ("currency", "VARCHAR"), ("opening_balance", MONEY), ("billed", MONEY),
               ("recognized", MONEY), ("closing_balance", MONEY)]
    rollforward = _mart("deferred_revenue_rollforward", columns, [
        (dt.date(2026, 9, 1), "USD", D(0), D("10.004"), D("3.333"), D("6.671")),
        (dt.date(2026, 10, 1), "USD", D("6.671"), D(0), D("3.333"), D("3.338")),
        (dt.date(2026, 11, 1), "USD", D("3.338"), D(0), D("3.334"), D("0.004")),
        (dt.date(2026, 9, 1), "JPY", D(0), D(500), D("250.5"), D("249.5"))])
    shown = [r[2:] for r in display_mart(rollforward, {"USD": 2, "JPY": 0}).rows]
    assert shown == [(D("0.00"), D("10.00"), D("3.33"), D("6.67")),
                     (D("6.67"), D("0.00"), D("3.34"), D("3.33")),
                     (D("3.33"), D("0.00"), D("3.33"), D("0.00")),
                     (D(0), D(500), D(251), D(249))]           # JPY: 250.5 rounds half away from zero to 251
    for opening, billed, recognized, closing in shown:
        assert opening + billed - recognized == closing


def test_money_in_csv_text_keeps_every_digit_and_the_currency_decimals():
    assert marts_mod.money_text(D("2593850.000000"), 0) == "2593850"
    assert marts_mod.money_text(D("12.500000"), 2) == "12.50"
    assert marts_mod.money_text(D("8462.128000"), 2) == "8462.128"
    assert marts_mod.money_text(D("-0.000000"), 3) == "0.000"
    assert marts_mod.money_text(D("1.000500"), 3) == "1.0005"
