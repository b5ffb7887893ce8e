"""`orbfin sync tryton-server` stopped with SIGTERM (a service manager's stop) or killed with SIGKILL leaves no trytond
behind (orb_finance/children.py and the command's SIGTERM handler). The real command, on a copy of the session's
Tryton template; the parent alone is signalled and /proc is polled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orb_finance.sync.providers import tryton_server
from processes import alive, clean_up, wait_for_child

pytestmark = pytest.mark.tryton


@pytest.fixture
def tryton_dir(tryton_template, tmp_path) -> Path:
    directory = tmp_path / "tryton"
    tryton_server.copy_database(tryton_template, directory, "orb")
    return directory


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_tryton_server_stopped_or_killed_leaves_no_trytond(tryton_dir, stop):
    cli = subprocess.Popen([sys.executable, "-m", "orb_finance.cli", "sync", "tryton-server", "--dir", str(tryton_dir),
                            "--port", str(tryton_server.free_port())],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    trytond = None
    try:
        trytond = wait_for_child(cli, "trytond", timeout=60)
        for line in cli.stdout:                                      # serving: the CLI is in its wait loop
            if "Tryton is serving" in line:
                break
        os.kill(cli.pid, stop)
        cli.wait(timeout=30)
        deadline = time.monotonic() + 15
        while alive(trytond):
            assert time.monotonic() < deadline, f"trytond {trytond} outlived `orbfin sync tryton-server` ({stop.name})"
            time.sleep(0.05)
        if stop == signal.SIGTERM:
            assert cli.returncode == 0                               # a clean stop, as with Ctrl-C
    finally:
        clean_up(cli, trytond)
