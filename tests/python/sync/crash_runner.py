"""`orbfin` with a trap: the process stops dead at a chosen point of a sync run and waits to be killed.

Used by the crash tests as `python crash_runner.py sync run ...` with ORBFIN_TRAP=<where>:<n> and
ORBFIN_TRAP_MARKER=<file>. When the trap fires it writes the marker file and sleeps; the test then sends a
real SIGKILL. Traps (n counts calls for invoices only):
  before_create:<n>   the n-th provider create call for invoices, before it runs (records are pending, nothing sent)
  after_append:<n>    right after the n-th invoice entry is appended to the Beancount ledger (sent, not recorded)
  after_journal:<n>   the same for the n-th revenue journal
  after_rpc:<method>:<n>  right after the n-th Tryton JSON-RPC call of <method> returned (sent, not recorded)
  after_request:<regex>:<n>  right after the n-th HTTP request (shared transport) whose path matches <regex> was
                      answered (sent, not recorded)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _fire() -> None:
    Path(os.environ["ORBFIN_TRAP_MARKER"]).write_text(str(os.getpid()))
    while True:
        time.sleep(60)


def install(trap: str) -> None:
    kind, _, rest = trap.partition(":")
    calls = {"n": 0}
    if kind == "before_create":
        from orb_finance.sync.engine import Executor
        n = int(rest)
        original = Executor._open_records

        def open_records(self, works):
            original(self, works)
            if works and works[0].object_type == "invoice" and works[0].action in ("create", "resync") \
                    and works[0].payload is not None:        # a send (not the take-out phase of a resync)
                calls["n"] += 1
                if calls["n"] >= n:
                    _fire()
        Executor._open_records = open_records
    elif kind in ("after_append", "after_journal"):
        from orb_finance.sync.providers.beancount import BeancountProvider
        n = int(rest)
        original = BeancountProvider._append
        tag = "#orb-invoice" if kind == "after_append" else "#orb-revenue-recognition"

        def append(self, text):
            original(self, text)
            if tag in text:
                calls["n"] += 1
                if calls["n"] >= n:
                    _fire()
        BeancountProvider._append = append
    elif kind == "after_rpc":
        from orb_finance.sync.providers.tryton import JsonRpc
        method, _, count = rest.rpartition(":")
        n = int(count)
        original = JsonRpc.call

        def call(self, name, *params, **kw):
            result = original(self, name, *params, **kw)
            if name == method:
                calls["n"] += 1
                if calls["n"] >= n:
                    _fire()
            return result
        JsonRpc.call = call
    elif kind == "after_request":
        import re

        from orb_finance.sync.providers.http import HttpTransport
        pattern, _, count = rest.rpartition(":")
        n = int(count)
        original = HttpTransport.request

        def request(self, method, url, **kw):
            response = original(self, method, url, **kw)
            if re.search(pattern, str(url)):
                calls["n"] += 1
                if calls["n"] >= n:
                    _fire()
            return response
        HttpTransport.request = request
    else:
        raise SystemExit(f"unknown trap {trap}")


if __name__ == "__main__":
    install(os.environ["ORBFIN_TRAP"])
    from orb_finance.cli import main
    sys.exit(main(sys.argv[1:]))
