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


def table(records: Sequence[Record], secrets: Iterable[str] = (), title: str | None = None) -> Table:
    secrets = list(secrets)
    t = Table(title=title, show_lines=False)
    for col in ["record", "attempted_at", "object", "orb_id", "action", "provider_id", "status", "invoice", "amount",
                "error"]:
        t.add_column(col, overflow="fold", justify="right" if col in ("record", "amount") else "left")
    styles = {"synced": "green", "failed": "red", "pending": "yellow", "retried": "cyan", "resynced": "magenta"}
    for r in records:
        amount = f"{r.amount} {r.currency}" if r.amount is not None else ""
        t.add_row(str(r.record_id), r.attempted_at[:19].replace("T", " "), r.object_type, r.orb_id, r.action, r.provider_id or "",
                  f"[{styles.get(r.status, '')}]{r.status}[/]", _plain(r.invoice_number), amount,
                  _plain(redact(r.error, secrets)))
    return t


def _plain(text: str | None) -> str:
    from rich.markup import escape
    return escape(text or "")


def validate_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        from ..errors import OrbFinanceError
        raise OrbFinanceError(f"Unknown status {status!r}; one of: {', '.join(STATUSES)}.")
    return status
