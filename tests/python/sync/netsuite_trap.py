"""`orbfin` with a NetSuite trap for the kill -9 tests: the process stops dead right after the n-th answered PUT of a
record type (the write reached NetSuite, the sync has not recorded its answer) and waits to be killed.

Used as `python netsuite_trap.py sync run ...` with ORBFIN_TRAP=after_put:<record>:<n> and ORBFIN_TRAP_MARKER=<file>
(crash_runner.py's convention). Run it with netsuite.concurrency 1, so nothing else is in flight.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crash_runner import _fire  # noqa: E402


def install(trap: str) -> None:
    kind, record, n = trap.split(":")
    if kind != "after_put":
        raise SystemExit(f"unknown trap {trap}")
    from orb_finance.sync.providers.http import HttpTransport

    original = HttpTransport.request
    seen = {"n": 0}
    lock = threading.Lock()

    def request(self, method, url, **kw):
        response = original(self, method, url, **kw)
        if method.upper() == "PUT" and f"/record/v1/{record}/eid:" in str(url):
            with lock:
                seen["n"] += 1
                fire = seen["n"] >= int(n)
            if fire:
                _fire()
        return response
    HttpTransport.request = request


if __name__ == "__main__":
    install(os.environ["ORBFIN_TRAP"])
    from orb_finance.cli import main
    sys.exit(main(sys.argv[1:]))
