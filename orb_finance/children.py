"""Child processes that die with their parent: dbt under `orbfin build` and `orbfin nightly`, trytond (and its
set-up commands) under `orbfin sync tryton-server`.

Owns the one way those children start: through a two-line launcher that asks Linux for a parent-death signal
(prctl PR_SET_PDEATHSIG: the kernel sends SIGKILL to the child when its parent dies, even by kill -9, which no
handler can see) and then execs the real command (same pid; the signal setting survives exec). It also owns the
locks a child holds with its parent: the file descriptor of an flock held by the parent is passed to the child,
so the lock (the open file's, shared by both) is released only when both have exited. A next `orbfin nightly`
cannot start while a dbt of a killed one still writes.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import IO, Iterator, Sequence

# Runs in the child before the real command: the parent-death signal, then exec. If the parent died before the
# signal was set (getppid() is no longer the pid it was started by), the child exits at once. Off Linux (no
# prctl) the command is exec'd as it is.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

_held: list[int] = []


def command(argv: Sequence[str]) -> list[str]:
    """`argv` started so that it dies with this process (pass it to subprocess as is; its pid is the command's)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    program = argv[0] if os.path.isabs(argv[0]) else _which(argv[0])
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), program, *argv[1:]]


def held_fds() -> tuple[int, ...]:
    """The lock file descriptors a child must hold with this process (subprocess's `pass_fds`)."""
    return tuple(_held)


@contextmanager
def shared_with_children(lock_file: IO) -> Iterator[None]:
    """While inside: every child started with `pass_fds=held_fds()` also holds `lock_file`'s flock."""
    fd = lock_file.fileno()
    _held.append(fd)
    try:
        yield
    finally:
        _held.remove(fd)


def _which(program: str) -> str:
    import shutil

    found = shutil.which(program)
    if found is None:
        raise FileNotFoundError(program)
    return found
