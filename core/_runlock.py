"""One process at a time works on a run folder: the run's own process while it runs, then one
`core sync` or `core runs repair` at a time.

Without it, four concurrent `core sync` of one run made four MLflow runs, each with every
metric. The lock is an OS file lock on `tracking/run.lock` (`filelock`): the kernel releases it
when its holder ends, SIGKILL included, so a dead holder never blocks anyone; and it tells a live
run from a dead one where pids cannot (another container, a reused pid).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from core._layout import RunLayout

#: how long `core sync` or `core runs repair` waits for another one working on the same run
WAIT_S = 60.0


def hold(run_dir: Path) -> FileLock | None:
    """For the run's own process: its fresh folder's lock, taken at once and held until it is
    released. None where the file system cannot lock (the run goes on; sync and repair then have
    only the pid check to tell that it is alive)."""
    path = RunLayout(run_dir).lock
    lock = FileLock(str(path), timeout=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (OSError, Timeout):
        return None
    return lock


@contextlib.contextmanager
def locked(run_dir: Path, wait_s: float = WAIT_S) -> Iterator[str | None]:
    """Hold the run's lock inside. Yields None when it is held, else why it could not be taken."""
    path = RunLayout(run_dir).lock
    lock = FileLock(str(path), timeout=wait_s)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        yield f"another process has held it for over {wait_s:.0f}s (the run itself, or a core sync or repair)"
        return
    except OSError as exc:
        yield f"it cannot be locked ({exc.strerror or exc})"
        return
    try:
        yield None
    finally:
        lock.release()


def held_elsewhere(run_dir: Path) -> bool:
    """Whether some process holds the run's lock now; asks without waiting and creates nothing."""
    path = RunLayout(run_dir).lock
    if not path.is_file():
        return False
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False
