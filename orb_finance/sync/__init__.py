"""The accounting sync (SPEC §5): the functions `orbfin sync ...` calls, and the run summary it prints.

engine.py decides and sends, state.py records attempts, settings.py reads the config, records.py is the
record view, providers/ talk to the accounting systems.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from ..errors import OrbFinanceError
from . import records as rec
from . import settings as cfg
from . import state as st
from .engine import SKIPPED, UP_TO_DATE, RunResult, SyncEngine, object_type
from .providers import OBJECT_TYPES, provider_class

SUMMARY_COLUMNS = [st.SYNCED, st.FAILED, st.PENDING, SKIPPED, UP_TO_DATE]


def run(config: str | None = None, duckdb_path: str | None = None, *, console: Console | None = None,
        show_progress: bool = True) -> RunResult:
    settings = cfg.load(config)
    return SyncEngine(settings, duckdb_path, console=console, show_progress=show_progress).run()


def resync(object_type_name: str, orb_id: str, config: str | None = None, duckdb_path: str | None = None, *,
           console: Console | None = None) -> RunResult:
    settings = cfg.load(config)
    return SyncEngine(settings, duckdb_path, console=console).resync(object_type_name, orb_id)


def retry(record_ids: Sequence[int], all_failed: bool, config: str | None = None) -> list[st.Record]:
    if not record_ids and not all_failed:
        raise OrbFinanceError("Name the failed records to retry (orbfin sync records --status failed), or pass --all-failed.")
    settings = cfg.load(config)
    with st.StateStore(settings.state_path) as store:
        return store.retry(record_ids, all_failed=all_failed, provider=settings.provider if all_failed else None)


def map_customer(orb_customer_id: str, provider_customer_id: str, config: str | None = None) -> st.Record:
    settings = cfg.load(config)
    return SyncEngine(settings).map_customer(orb_customer_id, provider_customer_id)


def list_records(config: str | None = None, *, status: str | None = None, object_type_name: str | None = None,
                 orb_id: str | None = None, limit: int | None = None) -> tuple[list[st.Record], list[str]]:
    """The record view, newest first, and the secret values to keep out of any output."""
    settings = cfg.load(config)
    rec.validate_status(status)
    otype = object_type(object_type_name) if object_type_name else None
    if not Path(settings.state_path).exists():
        return [], []
    with st.StateStore(settings.state_path) as store:
        records = store.records(status=status, object_type=otype, orb_id=orb_id, limit=limit)
    return records, _secrets(settings)


def skipped(config: str | None = None) -> list[tuple[str, str, str]]:
    settings = cfg.load(config)
    if not Path(settings.state_path).exists():
        return []
    with st.StateStore(settings.state_path) as store:
        return store.skips(settings.provider)


def _secrets(settings: cfg.Settings) -> list[str]:
    """Values of the environment variables the settings name as secrets (to redact them everywhere)."""
    out = []
    for section in (settings.provider_settings or {},):
        for key, var in section.items():
            if str(key).endswith("_env") and var and os.environ.get(str(var)):
                out.append(os.environ[str(var)])
    return out


def summary_table(result: RunResult) -> Table:
    title = f"orbfin sync run {result.run_id} ({result.provider}) in {result.elapsed:.1f}s"
    t = Table(title=title)
    t.add_column("object")
    for col in SUMMARY_COLUMNS:
        t.add_column(col, justify="right")
    by = result.by_status()
    for otype in OBJECT_TYPES:
        counts = by.get(otype, {})
        t.add_row(otype, *[str(counts.get(c, 0)) for c in SUMMARY_COLUMNS])
    return t
