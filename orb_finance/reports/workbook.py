"""The Excel workbook of the finance marts: one sheet per mart, money as numbers in the currency's format.

Owns the sheet layout (a bold header row, frozen, with filters; sensible column widths), the cell types
(money as exact Decimal numbers with a number format of the row's currency minor unit, dates as dates) and
a stable file: the document properties and zip timestamps come from the as-of date, not the clock, so the
same warehouse and date give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from .csv_export import write_atomic
from .marts import Mart, minor_unit

EXCEL_MAX_ROWS = 1_048_576
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="E8ECF2")
DATE_FORMAT = "yyyy-mm-dd"
RATE_FORMAT = "0.0000000000"          # an average rate's 10 places (a closing rate shows its first 10)
UNITS_FORMAT = "#,##0.######"         # prepaid credit units: as many decimals as they have


def money_format(places: int) -> str:
    """The number format for an amount with `places` decimals: 2 -> '#,##0.00', 0 -> '#,##0'."""
    return "#,##0" + ("." + "0" * places if places > 0 else "")


def build_workbook(marts: list[Mart], minor_units: dict[str, int], as_of: dt.date,
                   max_rows: int = EXCEL_MAX_ROWS - 1) -> tuple[bytes, list[str]]:
    """The workbook as bytes, and notes (a mart cut at Excel's row limit: its CSV file has every row)."""
    wb = Workbook(write_only=True)
    notes: list[str] = []
    for mart in marts:
        ws = wb.create_sheet(title=mart.name[:31])
        rows = mart.rows
        if len(rows) > max_rows:
            notes.append(f"{mart.name}: {len(rows):,} rows, more than a sheet holds; the sheet has the first "
                         f"{max_rows:,} (the CSV file has them all)")
            rows = rows[:max_rows]
        _sheet(ws, mart, rows, minor_units)
    if notes:
        ws = wb.create_sheet(title="notes")
        ws.append(["note"])
        for note in notes:
            ws.append([note])
    stamp = dt.datetime.combine(as_of, dt.time())
    wb.properties.creator = "orb-finance"
    wb.properties.title = f"Orb finance marts as of {as_of.isoformat()}"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()      # (not wb.save: that stamps "modified" with the clock)
    return _stable_zip(raw.getvalue(), stamp), notes


def write_workbook(marts: list[Mart], minor_units: dict[str, int], as_of: dt.date, path: Path) -> list[str]:
    data, notes = build_workbook(marts, minor_units, as_of)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return notes


def _sheet(ws, mart: Mart, rows: list[tuple], minor_units: dict[str, int]) -> None:
    for i, col in enumerate(mart.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _width(col.name, col.type)
    ws.freeze_panes = "A2"
    last = get_column_letter(len(mart.columns))
    ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"

    header = []
    for col in mart.columns:
        cell = WriteOnlyCell(ws, value=col.name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(horizontal="right" if col.is_decimal else "left")
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


def _width(name: str, col_type: str) -> float:
    t = col_type.upper()
    if t.startswith("DECIMAL"):
        base = 16
    elif t == "DATE":
        base = 12
    elif t in ("BIGINT", "INTEGER", "HUGEINT"):
        base = 10
    else:
        base = 18
    return float(max(base, len(name) + 4))


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
