"""Delivering a daily-layout sample night by night: the holding folder, its manifest and `--append-day`.

Owns `<export>/.orbfin-sample/`: every file of the generated history waits in `pending/<resource>/` until the
night it is delivered on, and `deliveries.json` lists the files of every night and the last night delivered.
Delivering a night moves its files into the export's resource directories (their mtime set to now, as a fresh
delivery's is). The folder's name starts with a dot, so the nightly's check and the dbt build ignore it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rich.console import RenderableType
from rich.table import Table

from ..errors import OrbFinanceError
from .calendar import date_of

HOLDING: Final = ".orbfin-sample"
MANIFEST: Final = "deliveries.json"


@dataclass
class DeliverySummary:
    """What one `--append-day` (or the first delivery of a generated export) put into the export."""
    out_dir: Path
    nights: list[dt.date]
    files: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    remaining_nights: int = 0

    def render(self) -> RenderableType:
        first, last = self.nights[0].isoformat(), self.nights[-1].isoformat()
        title = f"Delivered night {first}" if first == last else f"Delivered nights {first} to {last}"
        table = Table(title=f"{title} into {self.out_dir}", title_justify="left")
        table.add_column("resource")
        table.add_column("files", justify="right")
        for resource, n in sorted(self.files.items()):
            table.add_row(resource, f"{n:,}")
        table.add_section()
        table.add_row("total", f"{sum(self.files.values()):,}")
        table.caption = f"{self.bytes / 1e6:,.1f} MB; {self.remaining_nights} night(s) left to append"
        table.caption_justify = "left"
        return table


def holding_dir(out_dir: Path) -> Path:
    return out_dir / HOLDING


def start(out_dir: Path, nights: dict[int, list[str]], args: dict, hold_back_days: int) -> DeliverySummary:
    """Write the manifest of a freshly generated daily export and deliver every night but the last
    `hold_back_days` ones."""
    ordered = sorted(nights)
    if hold_back_days >= len(ordered):
        raise OrbFinanceError(f"--hold-back-days {hold_back_days} holds back every night of the export "
                              f"({len(ordered)} nights); use fewer")
    through = ordered[len(ordered) - 1 - hold_back_days]
    manifest = {"args": args, "delivered_through": None,
                "nights": {date_of(n).isoformat(): sorted(files) for n, files in sorted(nights.items())}}
    _write_manifest(out_dir, manifest)
    return _deliver(out_dir, manifest, [date_of(n) for n in ordered if n <= through])


def append_day(out_dir: Path) -> DeliverySummary:
    """Deliver the next night of a daily export generated with --hold-back-days."""
    manifest = read_manifest(out_dir)
    remaining = [dt.date.fromisoformat(n) for n in manifest["nights"]
                 if manifest["delivered_through"] is None or n > manifest["delivered_through"]]
    if not remaining:
        raise OrbFinanceError(f"{out_dir} already holds every night of its sample (through "
                              f"{manifest['delivered_through']}); generate it with --hold-back-days N to append later")
    return _deliver(out_dir, manifest, [min(remaining)])


def read_manifest(out_dir: Path) -> dict:
    path = holding_dir(out_dir) / MANIFEST
    if not path.is_file():
        raise OrbFinanceError(f"{out_dir} is not a daily sample export (no {HOLDING}/{MANIFEST}): generate it with "
                              "orbfin generate-sample --deliveries daily --hold-back-days N")
    return json.loads(path.read_text(encoding="utf-8"))


def _deliver(out_dir: Path, manifest: dict, nights: list[dt.date]) -> DeliverySummary:
    pending = holding_dir(out_dir) / "pending"
    summary = DeliverySummary(out_dir, nights)
    now = time.time()
    for night in nights:
        for name in manifest["nights"][night.isoformat()]:
            source, target = pending / name, out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            os.utime(target, (now, now))
            summary.files[name.split("/", 1)[0]] += 1
            summary.bytes += target.stat().st_size
        manifest["delivered_through"] = night.isoformat()
        _write_manifest(out_dir, manifest)     # after each night: a crash leaves a consistent manifest
    summary.remaining_nights = sum(1 for n in manifest["nights"] if n > manifest["delivered_through"])
    return summary


def _write_manifest(out_dir: Path, manifest: dict) -> None:
    folder = holding_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)


def remove(out_dir: Path) -> None:
    shutil.rmtree(holding_dir(out_dir), ignore_errors=True)
