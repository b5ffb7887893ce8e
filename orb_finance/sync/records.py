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


def table(records: Sequence[Record], secrets: Iterable[str] = (), title: str | None = None, *,
          wide: bool = False) -> Table:
    """The record view as a terminal table. Ids are never cut or wrapped (they are what one copies into the next
    command); the error text takes what width is left. `wide` adds the provider id and the invoice number."""
    secrets = list(secrets)
    t = Table(title=title, show_lines=False, title_justify="left")
    columns = ["record", "when", "object", "orb_id", "action", "status", "amount", "error"]
    if wide:
        columns[6:6] = ["provider_id", "invoice"]
    for col in columns:
        ident = col in ("record", "orb_id", "provider_id", "object", "action", "status", "when", "amount")
        t.add_column(col, no_wrap=ident, overflow="fold", justify="right" if col in ("record", "amount") else "left",
                     ratio=1 if col == "error" else None)
    styles = {"synced": "green", "failed": "red", "pending": "yellow", "retried": "cyan", "resynced": "magenta"}
    for r in records:
        values = {"record": str(r.record_id), "when": r.attempted_at[:16].replace("T", " "), "object": r.object_type,
                  "orb_id": _plain(r.orb_id), "action": r.action, "status": f"[{styles.get(r.status, '')}]{r.status}[/]",
                  "amount": f"{r.amount} {r.currency}" if r.amount is not None else "",
                  "error": _plain(redact(r.error, secrets)), "provider_id": _plain(r.provider_id),
                  "invoice": _plain(r.invoice_number)}
        t.add_row(*[values[c] for c in columns])
    return t


def _plain(text: str | None) -> str:
    from rich.markup import escape
    return escape(text or "")


def validate_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        from ..errors import OrbFinanceError
        raise OrbFinanceError(f"Unknown status {status!r}; one of: {', '.join(STATUSES)}.")
    return status
