"""How long a process waits on a tracking server that fails: bounded in all, whatever the number of calls.

MLflow bounds each HTTP call (`mlflow_backend.HTTP_DEFAULTS`: a 5 s time-out and one retry), not
how many a run makes: against a server that accepted connections and never answered, a 2-second
plugin took 35 s, one time-out after another. So each server (each URI, in each process) has its
`Patience`: once a call has waited out its time-out, or failing calls have taken in all as long as
one call may (time-out × tries) with no answer in between, the server is left alone for `QUIET_S`:
every call to it fails at once with `ServerNotAnswering`, a run keeps journaling (and `core sync`
sends later), and `core sync` of many runs reports each at once. The first call after the quiet
spell tries the server again. Local SQLite stores are not guarded: they answer or fail at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core._errors import TrackingError
from core._redact import scrub

#: how long a server that did not answer is left alone before the next call tries it again
QUIET_S = 300.0

T = TypeVar("T")


class ServerNotAnswering(TrackingError):
    """A call not made: the server did not answer a moment ago (see `Patience`)."""


class Patience:
    """The time this process has waited on one server's failing calls, and whether to call it now."""

    def __init__(self, uri: str, timeout_s: float, tries: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.uri = scrub(uri)
        self.timeout_s = timeout_s
        #: failing calls may take this long in all (one call's worst case) before the server is left alone
        self.limit_s = timeout_s * max(1, tries)
        self._clock = clock
        self._lock = threading.Lock()
        self._failing_s = 0.0
        self._quiet_until: float | None = None
        self._reason = ""

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)`, unless the server is being left alone (then `ServerNotAnswering`)."""
        self._check()
        started = self._clock()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._failed(self._clock() - started, exc)
            raise
        with self._lock:  # an answer: the server is there
            self._failing_s, self._quiet_until = 0.0, None
        return result

    def _check(self) -> None:
        with self._lock:
            if self._quiet_until is None:
                return
            left = self._quiet_until - self._clock()
            if left > 0:
                raise ServerNotAnswering(
                    f"tracking server {self.uri} not called: {self._reason}; core calls it again in "
                    f"{left:.0f}s (the calls are kept in the run's journal)")

    def _failed(self, took: float, exc: Exception) -> None:
        with self._lock:
            self._failing_s += took
            if took < self.timeout_s and self._failing_s < self.limit_s:
                return
            what = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            self._reason = (f"it did not answer within {took:.0f}s" if took >= self.timeout_s else
                            f"its calls failed for {self._failing_s:.0f}s") + f" ({scrub(what)})"
            self._quiet_until = self._clock() + QUIET_S
            self._failing_s = 0.0


_SERVERS: dict[str, Patience] = {}
_SERVERS_LOCK = threading.Lock()


def for_server(uri: str) -> Patience:
    """This process's `Patience` for the server at `uri`, with MLflow's HTTP time-out and retries
    as they are set (`MLFLOW_HTTP_REQUEST_TIMEOUT`, `MLFLOW_HTTP_REQUEST_MAX_RETRIES`)."""
    with _SERVERS_LOCK:
        if uri not in _SERVERS:
            timeout = _number("MLFLOW_HTTP_REQUEST_TIMEOUT", 120.0)
            retries = int(_number("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7.0))
            _SERVERS[uri] = Patience(uri, timeout, retries + 1)
        return _SERVERS[uri]


def _number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


class GuardedClient:
    """Stands in for an `MlflowClient`: each of its calls goes through the server's `Patience`."""

    def __init__(self, client: Any, patience: Patience) -> None:
        self._client = client
        self._patience = patience

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._patience.call(attr, *args, **kwargs)

        return guarded
