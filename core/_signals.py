"""SIGINT and SIGTERM during a run: end it as KILLED, with its record written.

SIGINT already raises KeyboardInterrupt; SIGTERM is turned into
`RunInterrupted`. While core writes the run's record, both are deferred, so a
second Ctrl-C cannot cut the summary in half; the deferred signal is raised
again once the record is safe. A signal noted before the plugin could be
interrupted (the run's first milliseconds) interrupts it as soon as it starts,
and only the first signal interrupts: those that follow are noted, so they
cannot cut short the writing of the record either.
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


def _raise(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise RunInterrupted("SIGTERM")


@contextlib.contextmanager
def interrupts_as_exceptions(received: list[int] | None = None) -> Iterator[None]:
    """Inside: SIGTERM raises RunInterrupted, SIGINT raises KeyboardInterrupt.

    With `received` (from `deferred_interrupts`): a signal noted there before raises on entry, and
    after the first signal inside, the next ones are only added to it.
    """
    if not _in_main_thread():  # signal handlers can only be set from the main thread
        yield
        return
    if received is None:
        old_term = signal.signal(signal.SIGTERM, _raise_terminated)
        old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    else:
        if received:
            _raise(received.pop(0))

        def note(signum: int, frame: FrameType | None) -> None:
            received.append(signum)

        def interrupt_once(signum: int, frame: FrameType | None) -> NoReturn:
            signal.signal(signal.SIGTERM, note)
            signal.signal(signal.SIGINT, note)
            _raise(signum)

        old_term = signal.signal(signal.SIGTERM, interrupt_once)
        old_int = signal.signal(signal.SIGINT, interrupt_once)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


@contextlib.contextmanager
def deferred_interrupts(received: list[int] | None = None) -> Iterator[list[int]]:
    """Inside: SIGINT/SIGTERM are only noted (in `received`, a new list by default). On exit, the
    first one noted and not taken out of the list meanwhile is raised."""
    received = [] if received is None else received
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
