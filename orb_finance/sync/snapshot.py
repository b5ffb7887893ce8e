"""The accounting system as the sync's records describe it, for reports: each object by its latest status.

Owns SyncSnapshot (counts by object type and status, the failed objects, what is still pending, what changed in
Orb since it was synced) and `snapshot(config)`, which the nightly's report reads instead of the state store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OrbFinanceError


@dataclass
class SyncSnapshot:
    provider: str
    counts: dict[str, dict[str, int]]                              # object type -> status -> number of objects
    failed: list[dict[str, Any]] = field(default_factory=list)     # the failed objects' latest records
    note: str = ""                                                 # e.g. why the sync did not run
    pending: list[dict[str, Any]] = field(default_factory=list)    # accepted, not yet final (async providers)
    changed: list[dict[str, Any]] = field(default_factory=list)    # synced, but Orb's data changed since


def _row(r) -> dict[str, Any]:
    return {"record_id": r.record_id, "object_type": r.object_type, "orb_id": r.orb_id, "action": r.action,
            "invoice_number": r.invoice_number, "amount": r.amount, "currency": r.currency, "error": r.error,
            "attempted_at": r.attempted_at, "pending_ref": r.pending_ref}


def snapshot(config: str | Path | None = None, note: str = "", *, settings=None) -> SyncSnapshot | None:
    """The snapshot of the settings' provider; None when the settings cannot be read."""
    from . import settings as sync_settings
    from . import state as st
    from .providers import OBJECT_TYPES

    if settings is None:
        try:
            settings = sync_settings.load(str(config) if config else None)
        except OrbFinanceError:
            return None
    counts: dict[str, dict[str, int]] = {t: {} for t in OBJECT_TYPES}
    failed, pending, changed = [], [], []
    if Path(settings.state_path).exists():
        with st.StateStore(settings.state_path) as store:
            histories = store.histories(settings.provider)
            skips = store.skips(settings.provider)
            changed_keys = [tuple(k.split("/", 1)) for k in
                            (store.get_meta(f"changed:{settings.provider}") or "").split(",") if "/" in k]
        for (otype, _), h in sorted(histories.items()):
            status = "removed" if h.removed and h.latest.status == st.SYNCED else h.latest.status
            by = counts.setdefault(otype, {})
            by[status] = by.get(status, 0) + 1
            if h.latest.status == st.FAILED:
                failed.append(_row(h.latest))
            elif h.latest.status == st.PENDING:
                pending.append(_row(h.latest))
        for otype, orb_id, _ in skips:
            if (otype, orb_id) not in histories:
                by = counts.setdefault(otype, {})
                by["skipped"] = by.get("skipped", 0) + 1
        for key in changed_keys:
            h = histories.get(key)
            if h is not None and h.latest.status == st.SYNCED:
                changed.append(_row(h.latest))
    failed.sort(key=lambda f: f["record_id"])
    pending.sort(key=lambda f: f["record_id"])
    return SyncSnapshot(settings.provider, counts, failed, note, pending, changed)
