"""Looking at processes through /proc, for the tests that kill a parent and check its children (Linux)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie has exited: only its exit status is left for a parent to collect)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_child(parent: subprocess.Popen, marker: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert parent.poll() is None, f"the parent exited first: {parent.stdout.read() if parent.stdout else ''}"
        for pid in children_of(parent.pid):
            if marker in cmdline(pid):
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no child running {marker!r} within {timeout}s")


def lock_is_free(path: Path) -> bool:
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def clean_up(parent: subprocess.Popen, child: int | None) -> None:
    """After a test: the parent stopped and reaped, and a child that outlived it (only when the test failed) killed."""
    if parent.poll() is None:
        parent.kill()
    parent.wait(timeout=10)
    if child is not None and alive(child):
        os.kill(child, signal.SIGKILL)
