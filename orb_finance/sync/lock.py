"""One sync at a time (SPEC §5): an exclusive lock beside the state store, held by every command that writes
to the books or the store (run, resync, retry, map-customer, reconcile, the nightly's sync step).

Owns the lock file `<state store>.lock`: an flock (released by the kernel when the holder dies, even by
kill -9) plus a line naming the holder (pid, start time, command), so a second command exits at once with a
one-line reason and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
from pathlib import Path

from ..errors import OrbFinanceError

EXIT_BUSY = 75          # EX_TEMPFAIL: another sync holds the store; try again later


class SyncBusy(OrbFinanceError):
    exit_code = EXIT_BUSY


def lock_path(state_path: Path) -> Path:
    state_path = Path(state_path)
    return state_path.with_name(state_path.name + ".lock")


class StateLock:
    """`with StateLock(state_path, "orbfin sync run"):` ... raises SyncBusy when another holder has it."""

    def __init__(self, state_path: Path, command: str):
        self.path = lock_path(state_path)
        self.command = command
        self._fh = None

    def __enter__(self) -> "StateLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _describe(fh.read())
            fh.close()
            raise SyncBusy(f"another sync is running on this state store ({holder}); not starting a second one "
                           f"(lock: {self.path})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "command": self.command,
                             "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             "argv": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))})
                 + "\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            try:
                self._fh.seek(0)
                self._fh.truncate()
            finally:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
                self._fh.close()
                self._fh = None


def _describe(text: str) -> str:
    try:
        info = json.loads(text.strip().splitlines()[-1])
        return f"pid {info['pid']}, `{info['command']}` started {info['started_at']}"
    except (ValueError, KeyError, IndexError):
        return "holder unknown"
