"""Children die with their parent (orb_finance/children.py): a dbt of an `orbfin nightly` killed with SIGKILL does not
go on writing without the nightly's lock (trytond under `orbfin sync tryton-server`: sync/test_tryton_server_children.py).

The test starts the real command in a process of its own, finds its child in /proc, kills the parent only (never
the process group: the child must die by itself) and polls /proc.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import alive, clean_up, cmdline, lock_is_free, wait_for_child

FIXTURES = Path(__file__).parent / "fixtures"


NIGHTLY = r"""
import sys
from orb_finance import nightly
export, live, config, target, reports = sys.argv[1:]
nightly.run(export, as_of="2026-11-01", config=config, duckdb_path=live, reports_dir=reports, target_path=target,
            max_age_hours=0, show_progress=False)
"""


def test_a_nightly_killed_with_sigkill_takes_its_dbt_along_and_holds_the_lock_until_it_is_gone(tmp_path):
    export = tmp_path / "export"
    shutil.copytree(FIXTURES / "exports" / "staging_rules", export, ignore=shutil.ignore_patterns("*.md"))
    live = tmp_path / "warehouse" / "orb_finance.duckdb"
    config = tmp_path / "accounting_sync.yml"
    config.write_text(f"provider: beancount\nstate_path: {tmp_path / 'state.sqlite'}\n"
                      f"beancount:\n  ledger_path: {tmp_path / 'books.beancount'}\n")
    nightly_proc = subprocess.Popen(
        [sys.executable, "-c", NIGHTLY, str(export), str(live), str(config), str(tmp_path / "target"), str(tmp_path / "reports")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dbt = None
    try:
        dbt = wait_for_child(nightly_proc, "orb_finance.dbt_events")     # dbt, run by orbfin's entry point
        while "prctl" in cmdline(dbt):                               # still in the launcher: let it exec dbt
            time.sleep(0.01)
        time.sleep(1.0)                                              # dbt is starting (parsing the project)
        assert alive(dbt)
        os.kill(nightly_proc.pid, signal.SIGKILL)                    # the nightly alone, as an OOM killer would
        nightly_proc.wait(timeout=10)
        lock = live.with_name(f".{live.name}.nightly.lock")
        deadline = time.monotonic() + 10
        while alive(dbt):
            assert not lock_is_free(lock), "the nightly's lock was free while its dbt still ran"
            assert time.monotonic() < deadline, "dbt went on running after its nightly was killed"
            time.sleep(0.02)
        assert lock_is_free(lock)                                    # and the next nightly may start
    finally:
        clean_up(nightly_proc, dbt)
