"""The record view (SPEC §5 `orbfin sync records`): every attempt, newest first, as a table or a CSV file.

Owns the CSV columns and their safety: no cell can start a spreadsheet formula, no secret is written.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Sequence

from rich.table import Table

from .. import redact as redaction
from .state import STATUSES, Record

# SPEC §5's columns, then `action` (create, resync, map, void, delete: a void reads as what it was).
CSV_COLUMNS = ["record_id", "attempted_at", "object_type", "orb_id", "provider", "provider_id", "status", "error",
               "invoice_number", "amount", "currency", "action"]

# A cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets
# (OWASP "CSV injection"); tab and carriage return are included because some spreadsheets strip them first.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """Every known secret (orb_finance/redact.py) and `secrets` replaced with ***."""
    return redaction.redact(text, secrets)


def write_csv(records: Sequence[Record], path: str | os.PathLike[str], secrets: Iterable[str] = ()) -> int:
    """Write the records to `path` with the SPEC §5 columns; returns the number of rows."""
    secrets = list(secrets)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(CSV_COLUMNS)
        for rec in records:
            writer.writerow([neutralise(redact(None if getattr(rec, c) is None else str(getattr(rec, c)), secrets))
                             for c in CSV_COLUMNS])
    return len(records)


# Object types in a narrow table (the CSV and --wide keep the full names, which --object-type takes).
SHORT_TYPES = {"balance_transaction": "balance", "credit_memo": "memo", "revenue_journal": "journal"}
GAP = 2                                  # between two columns of a compact table


def table(records: Sequence[Record], secrets: Iterable[str] = (), title: str | None = None, *,
          wide: bool = False, width: int = 80) -> Table:
    """The record view as a terminal table of at most `width` columns: record, object, orb_id, action, status,
    amount, then the attempt's time (from 100 columns) and the error (from 120; narrower, the errors are the
    table's caption, one line per record). Ids are kept whole whenever they fit (they are what one copies into the
    next command); a narrower terminal cuts them in the middle and says so. `wide`: every column (with the
    provider id and the invoice number) at full width, nothing cut."""
    from ..tables import compact_table, middle

    secrets = list(secrets)
    styles = {"synced": "green", "failed": "red", "pending": "yellow", "retried": "cyan", "resynced": "magenta"}
    rows = [{"record": str(r.record_id), "when": r.attempted_at[:16].replace("T", " "),
             "object": r.object_type if wide else SHORT_TYPES.get(r.object_type, r.object_type),
             "orb_id": r.orb_id or "", "action": r.action or "", "status": r.status,
             "amount": f"{r.amount} {r.currency}" if r.amount is not None else "",
             "error": redact(r.error, secrets) or "", "provider_id": r.provider_id or "",
             "invoice": r.invoice_number or ""} for r in records]
    columns = ["record", "object", "orb_id", "action", "status", "amount"]
    if wide or width >= 100:
        columns.insert(1, "when")
    if wide:
        columns[-1:-1] = ["provider_id", "invoice"]
    errors_in_table = (wide or width >= 120) and any(row["error"] for row in rows)
    if errors_in_table:
        columns.append("error")
    need = {c: max([len(c)] + [len(row[c]) for row in rows]) for c in columns if c != "error"}
    cut = False
    if not wide:
        spare = width - sum(need.values()) - GAP * (len(columns) - 1) - (20 if errors_in_table else 0)
        if spare < 0:                    # ids cut in the middle, never below 12 characters
            need["orb_id"] = max(12, need["orb_id"] + spare)
            cut = any(len(row["orb_id"]) > need["orb_id"] for row in rows)
    errors = [f"{row['record']}: {row['error']}" for row in rows if row["error"] and not errors_in_table]
    caption = "\n".join(filter(None, ["ids cut in the middle: --wide shows them whole" if cut else "",
                                       *(f"error of record {e}" for e in errors)])) or None
    t = compact_table(title=title, caption=_plain(caption) if caption else None)
    for col in columns:
        t.add_column(col, no_wrap=col != "error", overflow="fold" if col == "error" else "ellipsis",
                     justify="right" if col in ("record", "amount") else "left", ratio=1 if col == "error" else None,
                     min_width=need.get(col))
    for row in rows:
        cells = []
        for col in columns:
            text = middle(row[col], need["orb_id"]) if col == "orb_id" and not wide else row[col]
            cell = _plain(text)
            if col == "status":
                cell = f"[{styles.get(text, '')}]{cell}[/]"
            cells.append(cell)
        t.add_row(*cells)
    return t


def _plain(text: str | None) -> str:
    from rich.markup import escape
    return escape(text or "")


def validate_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        from ..errors import OrbFinanceError
        raise OrbFinanceError(f"Unknown status {status!r}; one of: {', '.join(STATUSES)}.")
    return status
