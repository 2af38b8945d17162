"""`core run` in two processes, so that its exit code and the run's record are true even when the
run's process ends without ending the run.

A plugin can end the process it runs in where no code of that process runs again: `os._exit(0)`,
a crash in native code, the kernel's OOM killer. When that process was the `core` command itself,
`core run` exited with whatever code that was (0, for `os._exit(0)`) and left the run DEAD. So the
command forks (POSIX): the child is the run's process and does exactly what `core run` did before,
printing included; the parent only waits for it, forwarding SIGINT and SIGTERM. When the child has
ended, the parent reads the run's record. If the child completed it, the exit code is the record's
(the child's own, but for a signal that came after the record was complete). If not, the parent
ends the run as `core runs repair` would (the status it decided, else KILLED with the cause:
"exited with code 0", "killed by SIGKILL"), prints that outcome and exits 1 (or the record's code).

The child dies with the parent (Linux `PR_SET_PDEATHSIG`), so killing `core run` with SIGKILL
still kills the run, as it always did. Where there is no `fork` (or with `CORE_RUN_IN_PROCESS=1`,
for profilers), the run happens in the command's own process, as before.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from core._errors import EXIT_RUN_FAILED
from core._records import RecordStatus, read_run
from core._runner import outcome_of
from core._summary import RunSummary
from core._tracking.journal import has_end

_FORWARDED = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1
_SI_KERNEL = 0x80  # Linux: a signal the kernel generated (the terminal's Ctrl-C), not a kill() by a process


def supervise(work: Callable[[], int], *, run_dir: Path, tracking_uri: str | None,
              report: Callable[[RunSummary], int]) -> int:
    """Run `work` (a run into `run_dir`, printed; returns the exit code) in a child process and
    return the exit code its record gives. `report` prints a record the parent had to end."""
    if not hasattr(os, "fork") or os.environ.get("CORE_RUN_IN_PROCESS") or threading.active_count() > 1:
        return work()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # none may fall between fork and the forwarding
    try:
        child = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        return work()
    if child == 0:
        _die_with(parent)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        return work()  # the run's process: it returns through `core.cli.main` and exits as `core run` did

    try:
        status = _wait_forwarding(child)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    return _after(run_dir, os.waitstatus_to_exitcode(status), tracking_uri, report)


def _wait_forwarding(child: int) -> int:
    """Wait for the child, handing it each SIGINT/SIGTERM sent to this process alone.

    The signals stay blocked and are taken with `sigwaitinfo`, which says who sent them: Ctrl-C
    on a terminal is sent by the kernel to the whole foreground group (`si_code` SI_KERNEL), so
    the child has it already, and a second copy would interrupt the plugin's own clean-up (its
    `finally` saving a checkpoint); a `kill` of this pid (SI_USER) reaches only us, so we pass it on.
    """
    waited = _FORWARDED | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        while True:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                return status
            info = signal.sigwaitinfo(waited)
            if info.si_signo in _FORWARDED and info.si_code != _SI_KERNEL:
                try:
                    os.kill(child, info.si_signo)
                except ProcessLookupError:
                    pass
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _die_with(parent: int) -> None:
    """In the child: be killed (SIGKILL) when the parent dies, as the one process `core run` was."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the run then outlives a killed `core run`
        pass
    if os.getppid() != parent:  # the parent died before that took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _after(run_dir: Path, code: int, tracking_uri: str | None, report: Callable[[RunSummary], int]) -> int:
    if not run_dir.exists():
        return code  # it stopped before the run began (bad input), and said why
    record = read_run(run_dir)
    summary = record.summary
    if summary is not None and summary.status.is_terminal and has_end(record.layout.journal) is not False:
        expected = outcome_of(summary, run_dir).exit_code
        if code < 0:  # killed once its record was complete, before it printed it
            report(summary)
        elif expected != code:
            print(f"core: run {record.run_id} is recorded {summary.status.value}: exit {expected}", file=sys.stderr)
        return expected
    from core._repair import repair_run

    repaired = repair_run(run_dir, tracking_uri=tracking_uri, died=_cause(code), known_dead=True)
    record = read_run(run_dir)
    if record.summary is None or record.status is RecordStatus.RUNNING:
        print(f"core: run {record.run_id}: its process ended ({_cause(code)}) and the run could not be ended: "
              f"{repaired.reason}; see `core runs repair {record.run_id}`", file=sys.stderr)
        return EXIT_RUN_FAILED
    report(record.summary)
    return outcome_of(record.summary, run_dir).exit_code


def _cause(code: int) -> str:
    if code < 0:
        return f"the run's process was killed by {signal.Signals(-code).name} before it ended the run"
    return f"the run's process exited with code {code} before it ended the run (os._exit, or a crash in native code)"

