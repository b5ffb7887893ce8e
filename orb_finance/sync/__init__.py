"""The accounting sync (SPEC §5): the functions `orbfin sync ...` calls, and the run summary it prints.

planner.py decides, engine.py sends and records, state.py keeps the attempts, lock.py makes it one sync at a time,
settings.py reads the config, records.py is the record view, snapshot.py the report's view, reconcile.py ties the
books to the warehouse, providers/ talk to the accounting systems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.table import Table

from ..errors import OrbFinanceError
from . import records as rec
from . import settings as cfg
from . import state as st
from .engine import SKIPPED, UP_TO_DATE, RunResult, SyncEngine, object_type
from .lock import StateLock
from .providers import OBJECT_TYPES
from .snapshot import SyncSnapshot, snapshot

SUMMARY_COLUMNS = [st.SYNCED, st.FAILED, st.PENDING, SKIPPED, UP_TO_DATE]

__all__ = ["run", "resync", "retry", "map_customer", "list_records", "skipped", "changed", "snapshot", "SyncSnapshot",
           "summary_table", "RunResult"]


def run(config: str | None = None, duckdb_path: str | None = None, *, console=None, show_progress: bool = True,
        settings: cfg.Settings | None = None) -> RunResult:
    settings = settings or cfg.load(config)
    return SyncEngine(settings, duckdb_path, console=console, show_progress=show_progress).run()


def resync(object_type_name: str, orb_id: str, config: str | None = None, duckdb_path: str | None = None, *,
           console=None) -> RunResult:
    settings = cfg.load(config)
    return SyncEngine(settings, duckdb_path, console=console).resync(object_type_name, orb_id)


def retry(record_ids: Sequence[int], all_failed: bool, config: str | None = None) -> list[st.Record]:
    if not record_ids and not all_failed:
        raise OrbFinanceError("Name the failed records to retry (orbfin sync records --status failed), or pass --all-failed.")
    settings = cfg.load(config)
    with StateLock(settings.state_path, "orbfin sync retry"), st.StateStore(settings.state_path) as store:
        return store.retry(record_ids, all_failed=all_failed, provider=settings.provider if all_failed else None)


def map_customer(orb_customer_id: str, provider_customer_id: str, config: str | None = None) -> st.Record:
    settings = cfg.load(config)
    return SyncEngine(settings).map_customer(orb_customer_id, provider_customer_id)


def list_records(config: str | None = None, *, status: str | None = None, object_type_name: str | None = None,
                 orb_id: str | None = None, limit: int | None = None) -> list[st.Record]:
    """The record view, newest first (every secret the settings name is registered for redaction)."""
    settings = cfg.load(config)
    rec.validate_status(status)
    otype = object_type(object_type_name) if object_type_name else None
    if not Path(settings.state_path).exists():
        return []
    with st.StateStore(settings.state_path) as store:
        return store.records(status=status, object_type=otype, orb_id=orb_id, limit=limit)


def changed(config: str | None = None) -> list[st.Record]:
    """Synced objects whose Orb data changed since they were sent (the last full run's finding): listed, never
    re-sent by themselves (`orbfin sync resync OBJECT_TYPE ORB_ID`)."""
    settings = cfg.load(config)
    snap = snapshot(config, settings=settings)
    if snap is None or not snap.changed:
        return []
    with st.StateStore(settings.state_path) as store:
        return [store.get(c["record_id"]) for c in snap.changed]


def skipped(config: str | None = None) -> list[tuple[str, str, str]]:
    settings = cfg.load(config)
    if not Path(settings.state_path).exists():
        return []
    with st.StateStore(settings.state_path) as store:
        return store.skips(settings.provider)


def summary_table(result: RunResult) -> Table:
    title = f"orbfin sync run {result.run_id} ({result.provider}) in {result.elapsed:.1f}s"
    t = Table(title=title)
    t.add_column("object")
    for col in SUMMARY_COLUMNS:
        t.add_column(col, justify="right")
    by = result.by_status()
    for otype in OBJECT_TYPES:
        counts = by.get(otype, {})
        if not counts and otype not in ("customer", "invoice", "credit_memo", "payment"):
            continue
        t.add_row(otype, *[str(counts.get(c, 0)) for c in SUMMARY_COLUMNS])
    return t
