"""The exit statuses of `pipsim` (docs/cli.md "Exit statuses"), defined once, and its one
way to report an error (``pipsim: error: ...`` on stderr).

A guest that halts gives its own exit code, unchanged, when it is below `GUEST_LIMIT`; every
status pipsim gives for how a run ended, or for a bug, is outside that range (a usage error,
2, comes with ``pipsim: error:`` and, for ``pipsim run``, before the guest starts)."""
from __future__ import annotations

import signal
import sys
from collections.abc import Iterable

OK = 0
NO = 1              # a command's "no": a token invalid, an image refused, a quote differing
USAGE = 2           # argparse's usage error, and every refusal of what was asked (PipsimError)
GUEST_LIMIT = 120   # a guest's exit code 0..119 is the status as it is
GUEST_OTHER = 120   # the guest halted with a code >= GUEST_LIMIT (the summary line names it)
FAULT = 121         # `pipsim run --child`: the child faulted (its fault report is printed)
OTHER_STOP = 122    # the run stopped another way: engine error, a host tool's failure
BUG = 123           # an uncaught exception: a bug in pipsim, its traceback on stderr
BUDGET = 124        # --max-instructions / --max-seconds spent (as timeout(1) reports it)
PANIC = 125         # the kernel panicked: a fault no partition could take


def signal_status(signum: int) -> int:
    """What a command a signal stopped exits with: as a shell reports a process the signal
    killed, 128 + n (SIGINT 130, SIGKILL 137, SIGPIPE 141, SIGTERM 143)."""
    return 128 + signum


INTERRUPTED = signal_status(signal.SIGINT)
KILLED = signal_status(signal.SIGKILL)         # gdb's kill (pipsim run --gdb)
BROKEN_PIPE = signal_status(signal.SIGPIPE)
TERMINATED = signal_status(signal.SIGTERM)

#: how a run ended (RunResult.stop, ChildRun.end) -> its status, but for a guest's exit
RUN_STOPS = {"budget": BUDGET, "panic": PANIC, "fault": FAULT}


def guest_status(code: int) -> int:
    """The status of a guest that halted with exit code ``code`` (& 0xFF, as a process's)."""
    code &= 0xFF
    return code if code < GUEST_LIMIT else GUEST_OTHER


def run_status(stop: str, exit_code: int | None = None) -> int:
    """The status of a run that ended by ``stop``: "halt" / "exit" give the guest's
    (guest_status), the others theirs (RUN_STOPS), anything else OTHER_STOP."""
    if stop in ("halt", "exit"):
        return guest_status(exit_code or 0)
    return RUN_STOPS.get(stop, OTHER_STOP)


PREFIX = "pipsim: error: "


def error(message: str, details: Iterable[str] = (), status: int = USAGE) -> int:
    """Report an error as every command does: ``pipsim: error: MESSAGE`` on stderr, then
    each detail line indented; returns ``status`` for the command to exit with."""
    print(PREFIX + message, file=sys.stderr)
    for line in details:
        print(f"  {line}", file=sys.stderr)
    return status
