"""The Excel workbook of the finance marts: a cover, one sheet per mart, definitions; money in the currency's format.

Owns the workbook's layout: a cover sheet (as of, what the numbers come from, how amounts are shown, what each
sheet answers), one sheet per mart with readable headers (bold, frozen, with filters), columns as wide as their
contents (ids whole), money as numbers already rounded for display (reports/display.py: the exact values are in
the CSV files) with a number format of the row currency's minor unit, dates as dates, print setup (landscape,
fit to one page wide, the header row repeated on every page), and a definitions sheet (every column of every
sheet, from the marts' documentation). The file is stable: document properties and zip timestamps come from the
as-of date, not the clock, so the same warehouse and date give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from .. import __version__
from .csv_export import write_atomic
from .marts import Mart, column_label, format_money, mart_docs, minor_unit

EXCEL_MAX_ROWS = 1_048_576
FONT = "Calibri"                      # the workbook's default font: bold cells name it too (a viewer without it
HEADER_FONT = Font(name=FONT, bold=True)  # then falls back to one font for every cell)
TITLE_FONT = Font(name=FONT, bold=True, size=14)
HEADER_FILL = PatternFill("solid", fgColor="E8ECF2")
DATE_FORMAT = "yyyy-mm-dd"
RATE_FORMAT = "0.0000000000"          # an average rate's 10 places (a closing rate shows its first 10)
UNITS_FORMAT = "#,##0.######"         # prepaid credit units: as many decimals as they have
COVER, DEFINITIONS = "cover", "definitions"
WIDTH_SAMPLE = 5000                   # rows looked at to size a column
MAX_WIDTH = 60
WRAP = Alignment(wrap_text=True, vertical="top")

AMOUNTS_NOTE = ("Each amount is in its row's currency (the Currency column; converted amounts and every amount of "
                "consolidated_monthly in the Reporting currency), rounded to that currency's minor unit (USD and EUR 2 "
                "decimals, JPY 0, KWD 3), half away from zero. A total in a row is the sum of the amounts shown beside "
                "it, so every row adds up as printed; deferred_revenue_rollforward rounds running totals, so opening + "
                "billed - recognized = closing on every row. The exact values (to 6 decimals) are in csv/<sheet>.csv "
                "beside this workbook.")
TERMS = [
    ("Deferred revenue", "Billed but not yet recognized: a positive closing balance of deferred_revenue_rollforward "
                         "(a liability)."),
    ("Unbilled revenue", "Recognized but not yet billed: a negative closing balance of deferred_revenue_rollforward "
                         "(an asset, e.g. usage in arrears). Not an error."),
    ("AR aging", "Open invoices as of the as-of date by days past their due date: current (not yet due), 1-30, "
                 "31-60, 61-90, 91+."),
    ("Month", "The first day of the calendar month (UTC)."),
]


def money_format(places: int) -> str:
    """The number format for an amount with `places` decimals: 2 -> '#,##0.00', 0 -> '#,##0'."""
    return "#,##0" + ("." + "0" * places if places > 0 else "")


def build_workbook(marts: list[Mart], minor_units: dict[str, int], as_of: dt.date,
                   max_rows: int = EXCEL_MAX_ROWS - 1,
                   facts: Sequence[tuple[str, str]] = ()) -> tuple[bytes, list[str]]:
    """The workbook as bytes, and notes (a mart cut at Excel's row limit: its CSV file has every row).

    `marts` are the marts as displayed (reports/display.py); `facts`: where the numbers come from, for the cover
    (reports/marts.warehouse_facts)."""
    wb = Workbook(write_only=True)
    docs = mart_docs()
    notes: list[str] = []
    cover = wb.create_sheet(title=COVER)
    for mart in marts:
        ws = wb.create_sheet(title=mart.name[:31])
        rows = mart.rows
        if len(rows) > max_rows:
            notes.append(f"{mart.name}: {len(rows):,} rows, more than a sheet holds; the sheet has the first "
                         f"{max_rows:,} (the CSV file has them all)")
            rows = rows[:max_rows]
        _sheet(ws, mart, rows, minor_units)
    _definitions(wb.create_sheet(title=DEFINITIONS), marts, docs)
    if notes:
        ws = wb.create_sheet(title="notes")
        ws.append(["note"])
        for note in notes:
            ws.append([note])
    _cover(cover, marts, docs, as_of, facts, notes)
    stamp = dt.datetime.combine(as_of, dt.time())
    wb.properties.creator = "orb-finance"
    wb.properties.title = f"Orb finance marts as of {as_of.isoformat()}"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()      # (not wb.save: that stamps "modified" with the clock)
    return _stable_zip(raw.getvalue(), stamp), notes


def write_workbook(marts: list[Mart], minor_units: dict[str, int], as_of: dt.date, path: Path,
                   facts: Sequence[tuple[str, str]] = ()) -> list[str]:
    data, notes = build_workbook(marts, minor_units, as_of, facts=facts)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return notes


def _print_setup(ws, header_rows: int = 1) -> None:
    """Landscape, one page wide (as many pages down as it takes), header rows on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True
    if header_rows:
        ws.print_title_rows = f"1:{header_rows}"


class _Rows:
    """Appends rows to a write-only sheet, giving a row with wrapped text the height its lines need (a spreadsheet
    does not grow a row it opens by itself)."""

    LINE_HEIGHT = 15

    def __init__(self, ws, widths: Sequence[float]):
        self.ws, self.widths, self.n = ws, list(widths), 0
        for i, width in enumerate(self.widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width

    def append(self, values: Sequence[Any], *, font: Font | None = None, fill: PatternFill | None = None) -> None:
        self.n += 1
        lines = 1
        cells = []
        for i, value in enumerate(values):
            if isinstance(value, Cell):
                cells.append(value)
                value = value.value
            else:
                cell = WriteOnlyCell(self.ws, value=value)
                if font is not None:
                    cell.font = font
                if fill is not None:
                    cell.fill = fill
                cell.alignment = WRAP
                cells.append(cell)
            if isinstance(value, str) and i < len(self.widths):
                per_line = max(int(self.widths[i] * 1.15) - 2, 10)
                lines = max(lines, sum(max(1, -(-len(part) // per_line)) for part in value.split("\n")))
        if lines > 1:
            self.ws.row_dimensions[self.n].height = self.LINE_HEIGHT * lines
        self.ws.append(cells)


def _cover(ws, marts: list[Mart], docs: dict, as_of: dt.date, facts: Sequence[tuple[str, str]],
           notes: list[str]) -> None:
    _print_setup(ws, header_rows=0)
    rows = _Rows(ws, (28, 96, 10))

    def line(label: str, value: Any = "") -> None:
        rows.append([label, value])

    title = WriteOnlyCell(ws, value=f"Orb finance as of {as_of.isoformat()}")
    title.font = TITLE_FONT
    rows.ws.row_dimensions[1].height = 22
    rows.append([title])
    line("As of", f"{as_of.isoformat()}: AR aging and customer balances on this date; revenue, billings and the "
                  "roll-forward cover every month of the export")
    for label, value in facts:
        line(label, value)
    reporting = _reporting_currency(marts)
    line("Reporting currency", reporting or "none (orbfin build --reporting-currency USD --fx-rates FILE)")
    line("Written by", f"orb-finance {__version__}: the same warehouse and as-of date give the same file")
    line("Amounts", AMOUNTS_NOTE)
    for term, meaning in TERMS:
        line(term, meaning)
    for note in notes:
        line("Note", note)
    rows.append([])
    rows.append(["Sheet", "What it answers", "Rows"], font=HEADER_FONT, fill=HEADER_FILL)
    for mart in marts:
        doc = docs.get(mart.name)
        answer = (doc.question or doc.description) if doc else ""
        name = WriteOnlyCell(ws, value=mart.name[:31])
        name.hyperlink = f"#'{mart.name[:31]}'!A1"
        name.font, name.alignment = Font(name=FONT, color="1F4E79", underline="single"), WRAP
        count = WriteOnlyCell(ws, value=len(mart.rows))
        count.number_format, count.alignment = "#,##0", Alignment(vertical="top")
        rows.append([name, answer, count])
    rows.append([None, f"Every column of every sheet: the '{DEFINITIONS}' sheet."])


def _definitions(ws, marts: list[Mart], docs: dict) -> None:
    ws.freeze_panes = "A2"
    _print_setup(ws)
    rows = _Rows(ws, (30, 32, 32, 100))
    rows.append(["Sheet", "Column", "Name in the CSV file", "Definition"], font=HEADER_FONT, fill=HEADER_FILL)
    for mart in marts:
        doc = docs.get(mart.name)
        for col in mart.columns:
            rows.append([mart.name, column_label(col.name), col.name, doc.columns.get(col.name, "") if doc else ""])


def _reporting_currency(marts: list[Mart]) -> str:
    for mart in marts:
        if mart.name == "consolidated_monthly" and mart.rows:
            return str(mart.rows[0][[c.name for c in mart.columns].index("reporting_currency")])
    return ""


def _sheet(ws, mart: Mart, rows: list[tuple], minor_units: dict[str, int]) -> None:
    for i, width in enumerate(_widths(mart, rows, minor_units), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    last = get_column_letter(len(mart.columns))
    ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    _print_setup(ws)

    header = []
    for col in mart.columns:
        cell = WriteOnlyCell(ws, value=column_label(col.name))
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="right" if col.is_decimal or _is_integer(col.type) else "left")
        header.append(cell)
    ws.append(header)

    formats: dict[str | None, str] = {}
    # each decimal column with where its currency is (money), or its fixed format (rates, credit units)
    money_at = [(i, mart.money_currency_index(c)) for i, c in enumerate(mart.columns) if c.is_money]
    fixed_at = [(i, RATE_FORMAT if c.is_rate else UNITS_FORMAT) for i, c in enumerate(mart.columns)
                if c.is_rate or c.is_units]
    date_at = [i for i, c in enumerate(mart.columns) if c.is_date]
    for row in rows:
        out: list = list(row)
        for i, currency_at in money_at:
            value = row[i]
            if value is not None:
                currency = row[currency_at] if currency_at is not None else None
                fmt = formats.get(currency)
                if fmt is None:
                    fmt = formats[currency] = money_format(minor_unit(currency, minor_units))
                cell = WriteOnlyCell(ws, value=Decimal(format(value, "f")))   # '0E-6' -> '0.000000'
                cell.number_format = fmt
                out[i] = cell
        for i, fmt in fixed_at:
            if row[i] is not None:
                cell = WriteOnlyCell(ws, value=Decimal(format(row[i], "f")))
                cell.number_format = fmt
                out[i] = cell
        for i in date_at:
            if row[i] is not None:
                cell = WriteOnlyCell(ws, value=row[i])
                cell.number_format = DATE_FORMAT
                out[i] = cell
        for i, value in enumerate(row):
            if isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"              # text, never a formula
                out[i] = cell
        ws.append(out)


def _is_integer(col_type: str) -> bool:
    return col_type.upper() in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT")


def _widths(mart: Mart, rows: Sequence[tuple], minor_units: dict[str, int]) -> list[float]:
    """Each column as wide as its header and its widest value as shown (ids and names whole, up to MAX_WIDTH),
    from the first WIDTH_SAMPLE rows."""
    money = {i: mart.money_currency_index(c) for i, c in enumerate(mart.columns) if c.is_money}
    widths = []
    for i, col in enumerate(mart.columns):
        longest = len(column_label(col.name))
        for row in rows[:WIDTH_SAMPLE]:
            value = row[i]
            if value is None:
                continue
            if i in money:
                at = money[i]
                text = format_money(value, row[at] if at is not None else None, minor_units)
            elif col.is_date:
                text = "yyyy-mm-dd"
            elif isinstance(value, Decimal):
                text = f"{value:,.10f}" if col.is_rate else f"{value.normalize():,f}"
            elif isinstance(value, int):
                text = f"{value:,}"
            else:
                text = str(value)
            longest = max(longest, len(text))
        widths.append(float(min(longest + 3, MAX_WIDTH)))
    return widths


def _stable_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """The same archive with every entry dated `stamp` (zip entries otherwise carry the write time)."""
    out = io.BytesIO()
    date_time = (stamp.year, stamp.month, stamp.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()
