"""CSV files of the finance marts: one `<mart>.csv` per mart, every row, exact values.

Owns the CSV shape: a header of the mart's column names, exact decimals (no float, no rounding): money with
its currency's decimals (JPY 2593850, USD 12.50, KWD 1.250) and any further digit the value has (8462.128
USD), other decimals without trailing zeros; ISO dates, empty for null, RFC 4180 line endings. Text that a
spreadsheet would run as a formula is prefixed with a quote. Nothing in the files depends on when they were
written.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .marts import Mart, cell_text, minor_unit, money_text

# A text cell starting with one of these is read as a formula by spreadsheets (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def mart_csv(mart: Mart, minor_units: dict[str, int] | None = None) -> str:
    text_columns = {i for i, c in enumerate(mart.columns) if c.type.upper() == "VARCHAR"}
    money = {i: mart.money_currency_index(c) for i, c in enumerate(mart.columns) if c.is_money}
    units = minor_units or {}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.name for c in mart.columns])
    for row in mart.rows:
        out = []
        for i, v in enumerate(row):
            if v is None:
                out.append("")
            elif i in money:
                at = money[i]
                out.append(money_text(v, minor_unit(row[at] if at is not None else None, units)))
            elif i in text_columns:
                out.append(neutralise(cell_text(v)))
            else:
                out.append(cell_text(v))
        writer.writerow(out)
    return buf.getvalue()


def write_csvs(marts: list[Mart], out_dir: Path, minor_units: dict[str, int] | None = None) -> list[Path]:
    """Write every mart to `out_dir/<mart>.csv` (each file replaced atomically); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for mart in marts:
        path = out_dir / f"{mart.name}.csv"
        write_atomic(path, mart_csv(mart, minor_units).encode("utf-8"))
        written.append(path)
    return written


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
