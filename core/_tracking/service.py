"""The local tracking service: a process that keeps MLflow imported and a store open, so that runs
(and sweep workers) hand it their calls instead of paying for both.

Started by the first run that needs it (`service_client`), detached in its own session:
`python -m core._tracking.service_host --root ROOT`, the target in its environment. A `TrackingService`
serves one store: it takes the store's lock file first (`flock`, released as it ends or by the kernel
however the process ends): a second service for the same store finds it held and exits, so two never
both send. It listens on a Unix socket in the artifact root (0600 in a 0700 folder; never TCP),
answers each connection in a thread, and ends after `CORE_TRACKING_SERVICE_IDLE` seconds (default
300) with no connection open. The process may serve other local stores too (`service_host`); it
exits with its last one.

A call is answered only after the backend returned: the run advances its journal's watermark on
that answer, so what the service accepted is what MLflow accepted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core._files import atomic_write_json
from core._tracking.service_wire import (
    ServiceGone,
    ServicePlace,
    private_dir,
    receive,
    send,
)

IDLE_ENV = "CORE_TRACKING_SERVICE_IDLE"
DEFAULT_IDLE_S = 300.0
_LOG = logging.getLogger("mlcore.tracking.service")


def idle_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)))
    except ValueError:
        return DEFAULT_IDLE_S


class TrackingService:
    """The service's state: the backend, its lock, who is connected, and when it was last used."""

    def __init__(self, place: ServicePlace, uri: str, artifact_location: str | None, idle_s: float) -> None:
        from core._tracking.target import TrackingTarget

        self.place = place
        self.target = TrackingTarget(uri, artifact_location)
        self.idle_s = idle_s
        self.backend: Any = None
        self.open_error: BaseException | None = None
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self._lock_fd: int | None = None
        self._listener: socket.socket | None = None
        #: every open connection (cut off when the service closes)
        self._conns: set[socket.socket] = set()
        #: those that asked for more than the status (the runs connected now): one keeps the service up.
        #: A connection counts once its first request says what it is: counting it from its accept, a
        #: status asked every 50 ms was always in flight when the loop looked, and the service never idled.
        self._clients: set[socket.socket] = set()
        #: calls being made on the store now: the lock is released only when none is (`close`)
        self._busy = 0
        self._idle_calls = threading.Condition(threading.Lock())
        self._calls = 0
        self._runs: set[str] = set()
        self._last_used = time.monotonic()
        self._state = threading.Lock()
        # SQLite takes one writer at a time: calls to a local store are made one at a time, as separate
        # processes made them before (a server takes them in parallel).
        self._serial = threading.Lock() if self.target.sqlite_path is not None else contextlib.nullcontext()
        self._experiments: dict[str, str] = {}
        self.started = time.time()
        #: how many stores this service's process serves (`service_host` sets it; one otherwise)
        self.stores_served: Callable[[], int] = lambda: 1

    # -- lifecycle ------------------------------------------------------------------
    def claim(self) -> bool:
        """Take the target's lock; False when another service holds it (that one sends, this one exits)."""
        private_dir(self.place.dir)
        fd = os.open(self.place.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def listen(self) -> None:
        """Bind the socket (0600), replacing one a dead service left. Owner-only from its first moment
        by its folder (0700, checked): the process's umask is not touched, as other threads of a
        process serving several stores write files meanwhile."""
        private_dir(self.place.socket.parent)
        with contextlib.suppress(FileNotFoundError):
            self.place.socket.unlink()  # only the lock's holder gets here: any socket there is stale
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.place.socket))
        os.chmod(self.place.socket, 0o600)
        listener.listen(64)
        listener.settimeout(0.5)
        self._listener = listener
        self._write_info()

    def open_backend(self) -> None:
        """MLflow imported and the store opened (made, from the template, when new): the slow part, done
        once here. Connections are accepted meanwhile; their calls wait for this."""
        from core._tracking import open_backend

        try:
            backend = open_backend(self.target)
            opener = getattr(backend, "open_store", None)
            if opener is not None and self.target.sqlite_path is not None:
                opener()
            with self._idle_calls:
                closed = self.stopping.is_set()  # stopped while it opened: no call will use it
                if not closed:
                    self.backend = backend
            if closed:
                with contextlib.suppress(Exception):
                    backend.close()
        except BaseException as exc:  # noqa: BLE001 - every call is answered with it, then the service exits
            self.open_error = exc
            from core._redact import scrub

            _LOG.error("cannot open the store: %s", scrub(f"{type(exc).__name__}: {exc}"))
        finally:
            self.ready.set()

    def serve(self) -> None:
        assert self._listener is not None
        while not self.stopping.is_set():
            # Checked before every accept, not only on its time-out: status asked more often than that
            # (`watch -n 0.2 core tracking status`) must not keep an idle service up.
            with self._state:
                idle = not self._clients and time.monotonic() - self._last_used > self.idle_s
                failed = self.open_error is not None and not self._clients
            if idle or failed:
                break
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            with self._state:
                if self.stopping.is_set():
                    conn.close()
                    break
                self._conns.add(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self.close()

    def close(self) -> None:
        """Stop serving this store: the socket goes first (a run that comes now starts or finds another
        service), then the info file; the runs still connected are cut off (each then sends in-process,
        as when a service dies); once no call is being made on the store any more, the store is closed
        and last the lock released. The process may go on serving other stores, so nothing here waits
        for it to end. Safe to call twice."""
        with self._state:
            self.stopping.set()
            conns = list(self._conns)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                if json.loads(self.place.info.read_text()).get("pid") == os.getpid():
                    self.place.info.unlink()
            with contextlib.suppress(OSError):
                self.place.socket.unlink()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._idle_calls:
            # A call already made on the store (an artifact upload, say) finishes first: until then this
            # service still sends, so no other may take the lock. Its answer then finds the run gone.
            self._idle_calls.wait_for(lambda: self._busy == 0)
        backend, self.backend = self.backend, None
        if backend is not None:
            with contextlib.suppress(Exception):
                backend.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _write_info(self) -> None:
        from core._tracking.target import public_uri

        atomic_write_json(self.place.info, {
            "pid": os.getpid(), "uri": public_uri(self.target.uri), "socket": str(self.place.socket),
            "key": self.place.key, "started": self.started, "idle_timeout_s": self.idle_s,
            "python": sys.executable,
        })

    def status(self) -> dict[str, Any]:
        with self._state:
            return {"pid": os.getpid(), "clients": len(self._clients), "calls": self._calls, "runs": len(self._runs),
                    "idle_s": round(time.monotonic() - self._last_used, 3), "ready": self.ready.is_set(),
                    "uptime_s": round(time.time() - self.started, 3), "stores": self.stores_served()}

    # -- one connection -----------------------------------------------------------------
    def _handle(self, conn: socket.socket) -> None:
        worked = False  # a connection that only asks for the status (`core tracking status`) is not use
        try:
            with conn:
                while True:
                    request = receive(conn)
                    if request is None:
                        return
                    if not worked and request.get("op") not in ("status", "stop"):
                        worked = True
                        with self._state:  # a run: it keeps the service up; only work resets its idle time
                            self._clients.add(conn)
                    reply = self._answer(request)
                    send(conn, reply)
                    if request.get("op") == "stop":
                        self.stopping.set()
                        return
        except (OSError, ServiceGone):
            return  # the run went away mid-call (or this service cut it off): its journal still holds the call
        finally:
            with self._state:
                self._conns.discard(conn)
                self._clients.discard(conn)
                if worked:
                    self._last_used = time.monotonic()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        args = request.get("args") or {}
        if op == "hello":
            return {"ok": True, "result": {"key": self.place.key, **self.status()}}
        if op in ("status", "stop"):
            return {"ok": True, "result": self.status()}
        handler = _OPS.get(str(op))
        if handler is None:
            return {"ok": False, "error": {"type": "TrackingError", "message": f"unknown call {op!r}"}}
        self.ready.wait()
        with self._idle_calls:
            if self.stopping.is_set():  # closing: the call is not made here; the cut connection tells the run
                raise ServiceGone("the service is stopping")
            self._busy += 1
        try:
            if self.open_error is not None:
                raise self.open_error
            with self._serial:
                result = handler(self, args)
        except Exception as exc:  # noqa: BLE001 - relayed to the run, which handles it as it would in-process
            return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}
        finally:
            with self._idle_calls:
                self._busy -= 1
                self._idle_calls.notify_all()
            with self._state:
                self._calls += 1
                self._last_used = time.monotonic()
        return {"ok": True, "result": result}

    def experiment(self, name: str) -> str:
        """The experiment's id, made once under the store's first-use lock (as in-process runs do)."""
        if name not in self._experiments:
            from core._tracking import prepare_experiment

            prepare_experiment(self.backend, self.target, name)
            self._experiments[name] = self.backend.experiment_id(name)
        return self._experiments[name]


# -- the calls, as `service_client.ServiceBackend` sends them ------------------------------------------
def _start_run(svc: TrackingService, a: dict[str, Any]) -> str:
    svc.experiment(a["experiment"])
    run_id = svc.backend.start_run(experiment=a["experiment"], run_name=a["run_name"], tags=a["tags"],
                                   start_time_ms=a["start_time_ms"])
    with svc._state:
        svc._runs.add(run_id)
    return str(run_id)


def _log_batch(svc: TrackingService, a: dict[str, Any]) -> None:
    from core._tracking.backend import Metric

    metrics = [Metric(k, float(v), int(s), int(t)) for k, v, s, t in a.get("metrics") or ()]
    svc.backend.log_batch(a["run_id"], metrics=metrics, params=a.get("params") or {}, tags=a.get("tags") or {})


def _end_run(svc: TrackingService, a: dict[str, Any]) -> None:
    from core.contracts import RunStatus

    svc.backend.end_run(a["run_id"], RunStatus(a["status"]), a["end_time_ms"])


def _find_model(svc: TrackingService, a: dict[str, Any]) -> dict[str, Any]:
    from core._tracking.model_uri import parse_model_uri

    return _version_dict(svc.backend.find_model(parse_model_uri(a["uri"])))


def _download_model(svc: TrackingService, a: dict[str, Any]) -> str:
    from core._tracking.model_uri import ModelVersion

    fields = dict(a["model"])
    fields["aliases"] = tuple(fields.get("aliases") or ())
    return str(svc.backend.download_model(ModelVersion(**fields), Path(a["dst_dir"])))


def _register(svc: TrackingService, a: dict[str, Any]) -> dict[str, Any]:
    done = svc.backend.register_model(a["run_id"], artifact_path=a["artifact_path"], name=a["name"],
                                      alias=a.get("alias"), tags=a.get("tags") or {}, core_run_id=a["core_run_id"])
    return {"name": done.name, "version": done.version, "alias": done.alias}


def _version_dict(version: Any) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(version)
    out["aliases"] = list(out.get("aliases") or ())
    out["tags"] = dict(out.get("tags") or {})
    return out


_OPS: dict[str, Callable[[TrackingService, dict[str, Any]], Any]] = {
    "experiment_id": lambda svc, a: svc.experiment(a["name"]),
    "start_run": _start_run,
    "log_batch": _log_batch,
    "log_artifact": lambda svc, a: svc.backend.log_artifact(a["run_id"], Path(a["local_path"]), a.get("artifact_path")),
    "end_run": _end_run,
    "has_run": lambda svc, a: svc.backend.has_run(a["core_run_id"]),
    "download_artifact": lambda svc, a: str(svc.backend.download_artifact(a["core_run_id"], a["artifact_path"],
                                                                         Path(a["dst_dir"]))),
    "find_model": _find_model,
    "download_model": _download_model,
    "register_model": _register,
    "model_versions": lambda svc, a: [_version_dict(v) for v in svc.backend.model_versions(a.get("name"))],
}
