"""dbt's entry point for `orbfin`: the dbt command of its arguments, run in this process, which writes to stdout
only the events orb-finance reads, one JSON line each (as dbt's `--log-format json` writes them).

Why not dbt's own JSON log on stdout: dbt turns every event (about 25 for each model or test: compiling,
executing, each SQL statement, each connection) into a JSON line for every logger. On a build of small tables
that formatting and writing took about a fifth of dbt's time, on the one core dbt's threads share (py-spy,
2026-12-01). Here dbt's console logger is off and a callback, which sees every event, forwards the few that
`warehouse.run_dbt` tracks: node results, errors and warnings, the progress total, why dbt parsed the whole
project, which files a partial parse parsed again. dbt's log file keeps every event, in dbt's own text format
(logs/dbt.log).

Usage: python -m orb_finance.dbt_events <dbt arguments>; exits as dbt's CLI does (0, 1 failures, 2 error).
Started ahead (`python -m orb_finance.dbt_events --await-command`), it imports dbt first, then reads one JSON line
from stdin, {"args": [...], "env": {...}}, and runs that command in exactly that environment; end of input instead
of a line: it exits 0 having run nothing (warehouse.DbtProcess).
"""

from __future__ import annotations

import json
import os
import sys
import threading

# The events warehouse._track reads (named here, where they are chosen, and used there).
RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "LogNodeNoOpResult"})
SKIP_EVENTS = frozenset({"LogSkipBecauseError", "SkippingDetails"})
ERROR_EVENTS = frozenset({"RunResultError", "RunResultErrorNoMessage"})       # a failed node's cause
# Warnings that are part of a test's result (the test's own result event carries its count and meaning).
TEST_WARNING_EVENTS = frozenset({"RunResultWarning", "RunResultWarningMessage"})
# Forwarded besides every warning and error: those, the progress total, why dbt parsed the whole project, and
# which files a partial parse parsed again.
FORWARDED = RESULT_EVENTS | SKIP_EVENTS | ERROR_EVENTS | TEST_WARNING_EVENTS | {
    "RunResultFailure", "LogStartLine", "UnableToPartialParse", "PartialParsingFile"}

# dbt's console logger off; its file log at debug level in its own text format (the default one).
LOG_ARGS = ("--log-level", "none", "--log-level-file", "debug", "--log-format-file", "debug")


# The first argument of a dbt process started ahead of its command (warehouse.DbtProcess).
AWAIT_COMMAND = "--await-command"


def _import_dbt() -> None:
    """What every build imports, before its command is known: dbt's CLI, its build task and parser, the adapter."""
    import dbt.adapters.duckdb.impl  # noqa: F401
    import dbt.cli.main  # noqa: F401
    import dbt.parser.manifest  # noqa: F401
    import dbt.task.build  # noqa: F401


def main(argv: list[str]) -> int:
    if argv[:1] == [AWAIT_COMMAND]:
        _import_dbt()
        line = sys.stdin.readline()
        if not line.strip():
            return 0                          # the caller went on without dbt
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        argv = list(request["args"])
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import env_scrubber, msg_to_json

    lock = threading.Lock()
    out = sys.stdout

    def forward(msg) -> None:
        info = msg.info
        if info.name in FORWARDED or info.level in ("warn", "error"):
            line = env_scrubber(msg_to_json(msg))          # secrets scrubbed, as dbt's loggers do
            with lock:
                out.write(line + "\n")
                out.flush()

    result = dbtRunner(callbacks=[forward]).invoke([*argv, *LOG_ARGS])
    if result.success:
        return 0
    if result.exception is not None:
        with lock:
            out.write(f"{type(result.exception).__name__}: {result.exception}\n")
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
