"""The sync state store: one SQLite file, separate from the warehouse so it survives rebuilds.

Owns the sync records (one row per attempt, SPEC §5 statuses), the runs and the objects each run skipped.
Every change is one SQLite transaction: it happens whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import OrbFinanceError

SYNCED, RESYNCED, FAILED, RETRIED, PENDING = "synced", "resynced", "failed", "retried", "pending"
STATUSES = (SYNCED, RESYNCED, FAILED, RETRIED, PENDING)

# What an attempt tried to do. create: first send; resync: replace what was sent; map: link an Orb customer
# to an existing provider customer; void/delete: take the object out of the provider.
CREATE, RESYNC, MAP, VOID, DELETE = "create", "resync", "map", "void", "delete"
PUTS = (CREATE, RESYNC, MAP)
REMOVES = (VOID, DELETE)

SCHEMA = """
create table if not exists sync_records (
    record_id      integer primary key autoincrement,
    attempted_at   text not null,
    object_type    text not null,
    orb_id         text not null,
    provider       text not null,
    action         text not null,
    provider_id    text,
    status         text not null check (status in ('synced', 'resynced', 'failed', 'retried', 'pending')),
    error          text,
    payload_hash   text,
    invoice_number text,
    amount         text,
    currency       text,
    run_id         text
);
create table if not exists sync_meta (
    key   text primary key,
    value text
);
create index if not exists sync_records_object on sync_records (provider, object_type, orb_id, record_id);
create index if not exists sync_records_status on sync_records (status);
create table if not exists sync_runs (
    run_id      text primary key,
    provider    text not null,
    started_at  text not null,
    finished_at text,
    outcome     text,
    settings    text,
    counts      text
);
create table if not exists sync_skips (
    run_id      text not null,
    provider    text not null,
    object_type text not null,
    orb_id      text not null,
    reason      text not null
);
"""


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Record:
    record_id: int
    attempted_at: str
    object_type: str
    orb_id: str
    provider: str
    action: str
    provider_id: str | None
    status: str
    error: str | None
    payload_hash: str | None
    invoice_number: str | None
    amount: str | None
    currency: str | None
    run_id: str | None
    pending_ref: str | None = None   # while pending: the provider's job reference (an asynchronous write)
    content: str | None = None       # what the attempt booked, where later runs need it (a revenue journal's lines)


COLUMNS = [f for f in Record.__dataclass_fields__]


@dataclass
class History:
    """What the store knows about one object at one provider: its latest attempt and what is live there."""
    latest: Record
    live_provider_id: str | None = None   # the provider object our last successful put created (None once removed)
    removed: bool = False                 # a void/delete succeeded after the last put
    last_put: Record | None = None        # the last successful put (what the provider holds)

    @property
    def status(self) -> str:
        return self.latest.status

    def apply(self, rec: Record) -> "History":
        """The one liveness rule: a put that succeeded (synced, or synced then marked resynced) makes its provider
        object live; a removal that succeeded takes it out. Every other attempt only becomes the latest."""
        self.latest = rec
        if rec.status in (SYNCED, RESYNCED) and rec.action in PUTS:
            self.live_provider_id, self.removed, self.last_put = rec.provider_id, False, rec
        elif rec.status == SYNCED and rec.action in REMOVES:
            self.live_provider_id, self.removed = None, True
        return self

    @classmethod
    def replay(cls, records: Iterable[Record]) -> dict[tuple[str, str], "History"]:
        out: dict[tuple[str, str], History] = {}
        for rec in records:
            key = (rec.object_type, rec.orb_id)
            h = out.get(key)
            if h is None:
                h = out[key] = History(latest=rec)
            h.apply(rec)
        return out


@dataclass(frozen=True)
class NewRecord:
    object_type: str
    orb_id: str
    action: str
    payload_hash: str | None = None
    provider_id: str | None = None
    invoice_number: str | None = None
    amount: Decimal | str | None = None
    currency: str | None = None
    content: str | None = None


@dataclass(frozen=True)
class Resolution:
    record_id: int
    status: str                      # synced | failed | pending (still: pending_ref names the provider's job)
    provider_id: str | None = None
    error: str | None = None
    pending_ref: str | None = None


class StateStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self.con.execute("pragma journal_mode = wal")
            self.con.execute("pragma synchronous = full")
            self.con.execute("pragma foreign_keys = on")
            with self.transaction() as con:
                for statement in _statements(SCHEMA):
                    con.execute(statement)
                columns = {row[1] for row in con.execute("pragma table_info(sync_records)")}
                if "pending_ref" not in columns:       # a store written before asynchronous providers
                    con.execute("alter table sync_records add column pending_ref text")
                if "content" not in columns:           # a store written before revenue journals
                    con.execute("alter table sync_records add column content text")
        except sqlite3.DatabaseError as exc:
            raise OrbFinanceError(f"Sync state store {self.path} cannot be opened: {exc}") from None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.con.execute("begin immediate")
        try:
            yield self.con
        except BaseException:
            self.con.execute("rollback")
            raise
        else:
            self.con.execute("commit")

    # --- runs ---------------------------------------------------------------------------------------

    def begin_run(self, provider: str, settings: str) -> str:
        run_id = uuid.uuid4().hex[:12]
        with self.transaction() as con:
            con.execute("insert into sync_runs (run_id, provider, started_at, settings) values (?, ?, ?, ?)",
                        (run_id, provider, utc_now(), settings))
        return run_id

    def finish_run(self, run_id: str, outcome: str, counts: dict, skips: Sequence[tuple[str, str, str]],
                   provider: str, replace_skips: bool = True) -> None:
        """Close a run; a full pass replaces the list of skipped objects (a resync of a few objects adds to it)."""
        with self.transaction() as con:
            con.execute("update sync_runs set finished_at = ?, outcome = ?, counts = ? where run_id = ?",
                        (utc_now(), outcome, json.dumps(counts, sort_keys=True), run_id))
            if replace_skips:
                con.execute("delete from sync_skips where provider = ?", (provider,))
            con.executemany("insert into sync_skips values (?, ?, ?, ?, ?)",
                            [(run_id, provider, t, o, r) for t, o, r in skips])

    def skips(self, provider: str | None = None) -> list[tuple[str, str, str]]:
        sql = "select object_type, orb_id, reason from sync_skips"
        args: tuple = ()
        if provider:
            sql += " where provider = ?"
            args = (provider,)
        return [tuple(r) for r in self.con.execute(sql + " order by rowid", args)]

    # --- attempts -----------------------------------------------------------------------------------

    def histories(self, provider: str) -> dict[tuple[str, str], History]:
        """Every object's history at `provider`, replayed from its attempts in order."""
        cur = self.con.execute(f"select {', '.join(COLUMNS)} from sync_records where provider = ? order by record_id",
                               (provider,))
        return History.replay(Record(*row) for row in cur)

    def add(self, provider: str, run_id: str | None, records: Sequence[NewRecord], status: str = PENDING,
            error: str | None = None) -> list[int]:
        """Insert attempts (pending by default) in one transaction; returns their record ids, in order."""
        now = utc_now()
        ids: list[int] = []
        with self.transaction() as con:
            for r in records:
                cur = con.execute(
                    "insert into sync_records (attempted_at, object_type, orb_id, provider, action, provider_id, status,"
                    " error, payload_hash, invoice_number, amount, currency, run_id, content)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, r.object_type, r.orb_id, provider, r.action, r.provider_id, status, error, r.payload_hash,
                     r.invoice_number, None if r.amount is None else str(r.amount), r.currency, run_id, r.content))
                ids.append(int(cur.lastrowid))
        return ids

    def restart(self, record_ids: Sequence[int], run_id: str, hashes: Sequence[str | None]) -> None:
        """A pending attempt whose object was not found in the provider is sent again under the same record."""
        now = utc_now()
        with self.transaction() as con:
            con.executemany("update sync_records set attempted_at = ?, run_id = ?, payload_hash = coalesce(?, payload_hash),"
                            " pending_ref = null where record_id = ? and status = 'pending'",
                            [(now, run_id, h, rid) for rid, h in zip(record_ids, hashes)])

    def resolve(self, resolutions: Iterable[Resolution]) -> None:
        """Settle pending attempts (synced or failed) in one transaction; a pending one may stay pending with the
        provider's job reference."""
        with self.transaction() as con:
            for r in resolutions:
                if r.status == PENDING:
                    con.execute("update sync_records set pending_ref = ? where record_id = ? and status = 'pending'",
                                (r.pending_ref, r.record_id))
                    continue
                if r.status not in (SYNCED, FAILED):
                    raise ValueError(f"a pending record resolves to synced or failed, not {r.status}")
                con.execute("update sync_records set status = ?, provider_id = coalesce(?, provider_id), error = ?,"
                            " pending_ref = null where record_id = ? and status = 'pending'",
                            (r.status, r.provider_id, r.error, r.record_id))

    # --- small facts kept with the records (e.g. QuickBooks' rotating refresh token) ------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("select value from sync_meta where key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as con:
            if value is None:
                con.execute("delete from sync_meta where key = ?", (key,))
            else:
                con.execute("insert into sync_meta (key, value) values (?, ?) on conflict(key) do update set value ="
                            " excluded.value", (key, value))

    def get_metas(self, keys: Iterable[str]) -> dict[str, str]:
        """The facts kept under `keys` (those that exist)."""
        keys, out = list(keys), {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            out.update(self.con.execute(f"select key, value from sync_meta where key in ({','.join('?' * len(chunk))})",
                                        chunk))
        return out

    def set_metas(self, values: dict[str, str | None]) -> None:
        """Several facts in one transaction (None deletes one)."""
        with self.transaction() as con:
            for key, value in values.items():
                if value is None:
                    con.execute("delete from sync_meta where key = ?", (key,))
                else:
                    con.execute("insert into sync_meta (key, value) values (?, ?) on conflict(key) do update set"
                                " value = excluded.value", (key, value))

    def get(self, record_id: int) -> Record | None:
        row = self.con.execute(f"select {', '.join(COLUMNS)} from sync_records where record_id = ?",
                               (record_id,)).fetchone()
        return Record(*row) if row else None

    def retry(self, record_ids: Sequence[int] = (), *, all_failed: bool = False,
              provider: str | None = None) -> list[Record]:
        """Mark failed records `retried` (SPEC §5): the next run sends their objects again.
        Only the latest attempt of an object can be retried; anything else is an error naming the record."""
        with self.transaction() as con:
            if all_failed:
                sql = f"select {', '.join(COLUMNS)} from sync_records r where status = 'failed'"
                args: tuple = ()
                if provider:
                    sql += " and provider = ?"
                    args = (provider,)
                targets = [Record(*row) for row in con.execute(sql + " order by record_id", args)]
            else:
                targets = []
                for rid in record_ids:
                    row = con.execute(f"select {', '.join(COLUMNS)} from sync_records where record_id = ?",
                                      (rid,)).fetchone()
                    if row is None:
                        raise OrbFinanceError(f"No sync record {rid}.")
                    rec = Record(*row)
                    if rec.status != FAILED:
                        raise OrbFinanceError(f"Record {rid} is {rec.status}, not failed: only failed records can be retried.")
                    targets.append(rec)
            marked = []
            for rec in targets:
                latest = con.execute("select max(record_id) from sync_records where provider = ? and object_type = ?"
                                     " and orb_id = ?", (rec.provider, rec.object_type, rec.orb_id)).fetchone()[0]
                if latest != rec.record_id:
                    if all_failed:
                        continue
                    raise OrbFinanceError(f"Record {rec.record_id} is not the latest attempt for {rec.object_type} "
                                          f"{rec.orb_id} (record {latest} is).")
                con.execute("update sync_records set status = 'retried' where record_id = ?", (rec.record_id,))
                marked.append(rec)
        return marked

    def mark_resynced(self, provider: str, keys: Sequence[tuple[str, str]]) -> list[Record]:
        """Mark the latest attempt of each object `resynced` where it is a synced put; returns those marked."""
        marked = []
        with self.transaction() as con:
            for object_type, orb_id in keys:
                row = con.execute(f"select {', '.join(COLUMNS)} from sync_records where provider = ? and object_type = ?"
                                  " and orb_id = ? order by record_id desc limit 1",
                                  (provider, object_type, orb_id)).fetchone()
                if row is None:
                    continue
                rec = Record(*row)
                if rec.status == SYNCED and rec.action in PUTS:
                    con.execute("update sync_records set status = 'resynced' where record_id = ?", (rec.record_id,))
                    marked.append(rec)
        return marked

    def records(self, *, status: str | None = None, object_type: str | None = None, provider: str | None = None,
                orb_id: str | None = None, limit: int | None = None) -> list[Record]:
        """The record view: every attempt, newest first, filtered."""
        where, args = [], []
        for col, value in (("status", status), ("object_type", object_type), ("provider", provider), ("orb_id", orb_id)):
            if value:
                where.append(f"{col} = ?")
                args.append(value)
        sql = f"select {', '.join(COLUMNS)} from sync_records"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by record_id desc"
        if limit:
            sql += f" limit {int(limit)}"
        return [Record(*row) for row in self.con.execute(sql, args)]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
