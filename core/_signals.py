"""SIGINT and SIGTERM during a run: end it as KILLED, with its record written.

SIGINT already raises KeyboardInterrupt; SIGTERM is turned into
`RunInterrupted`. While core writes the run's record, both are deferred, so a
second Ctrl-C cannot cut the summary in half; the deferred signal is raised
again once the record is safe.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

from core._errors import RunInterrupted


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise RunInterrupted("SIGTERM")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Inside: SIGTERM raises RunInterrupted, SIGINT raises KeyboardInterrupt."""
    if not _in_main_thread():  # signal handlers can only be set from the main thread
        yield
        return
    old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Inside: SIGINT/SIGTERM are only noted. On exit, the first one noted is raised."""
    received: list[int] = []
    if not _in_main_thread():
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old_term = signal.signal(signal.SIGTERM, note)
    old_int = signal.signal(signal.SIGINT, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
    if received:
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise RunInterrupted("SIGTERM")
