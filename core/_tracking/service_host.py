"""One tracking-service process serving one or more local stores, so that MLflow is imported once.

A service process starts for one store (`python -m core._tracking.service_host --root ROOT`, the
target in its environment: `service_client` starts it detached, in its own session). It also
listens on a control socket (`service_wire.host_socket`: the user's host dir, named by the host key
and its pid), where a run whose store has no service yet asks it to serve that store too (`adopt`,
`service_client.connect`): the process takes that store's lock, binds its socket in that artifact
root and opens the store (a new one from the template: about 0.2 s in a process that has MLflow
imported, where a new process takes about 2 s), then serves it in threads of its own. Each store has
its own socket, lock, info file and idle time, exactly as with a process of its own; the process
exits when it serves no store any more.

Only local SQLite stores are adopted. A server's calls depend on more of the environment than the
host key covers (proxies, a cloud store's credentials), so each server URI keeps a process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from core._tracking.service import TrackingService, idle_seconds
from core._tracking.service_wire import (
    LOCATION_ENV,
    SERVICE_DIR,
    URI_ENV,
    ServiceGone,
    ServicePlace,
    host_key,
    host_socket,
    place_for,
    private_dir,
    private_host_dir,
    receive,
    send,
)
from core._tracking.target import public_uri

_LOG = logging.getLogger("mlcore.tracking.service")
#: how long an `adopt` request may take to arrive: the control loop answers one connection at a time
_REQUEST_TIMEOUT_S = 2.0


class ServiceHost:
    """The stores this process serves, and its control socket."""

    def __init__(self, key: str, log_path: Path | None = None) -> None:
        self.key = key
        self.log_path = log_path
        self.stopping = threading.Event()
        self._services: list[TrackingService] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # the lists, and the decision to exit against an adoption under way
        self._adopting = 0
        self._closing = False
        #: every store URI this process has served: MLflow keeps a store's engine for the life of the
        #: process (its store cache), so a store whose service ended is never adopted again here (its
        #: folder may have been removed and made anew); its next run starts a process of its own
        self._served: set[str] = set()
        self._control: socket.socket | None = None
        self._control_path: Path | None = None

    def add(self, place: ServicePlace, uri: str, location: str | None, idle_s: float) -> TrackingService | None:
        """Serve one more store: its lock taken (None when another service holds it: that one sends), its
        socket bound, the store opening in the background, its connections answered in a thread."""
        svc = TrackingService(place, uri, location, idle_s)
        svc.stores_served = self.serving
        if not svc.claim():
            return None
        thread = threading.Thread(target=self._serve, args=(svc,), name="mlcore-service", daemon=True)
        try:
            svc.listen()
            threading.Thread(target=svc.open_backend, name="mlcore-service-open", daemon=True).start()
            with self._lock:
                self._services.append(svc)
                self._threads.append(thread)
                self._served.add(uri)
            thread.start()
        except BaseException:
            with self._lock:
                if svc in self._services:
                    self._services.remove(svc)
                if thread in self._threads:
                    self._threads.remove(thread)
            svc.close()  # its socket and lock let go: a run that comes starts a service of its own
            raise
        return svc

    def _serve(self, svc: TrackingService) -> None:
        try:
            svc.serve()
        except Exception:  # noqa: BLE001 - one store's failure ends that store's service, not the others'
            _LOG.exception("the service for %s failed", public_uri(svc.target.uri))
        finally:
            svc.close()
            with self._lock:
                self._services.remove(svc)
                with contextlib.suppress(ValueError):
                    self._threads.remove(threading.current_thread())
            _LOG.info("stopped serving %s (%s calls)", public_uri(svc.target.uri), svc.status()["calls"])

    def serving(self) -> int:
        """How many stores this process serves (no lock: read inside a store's own status lock)."""
        return len(self._services)

    # -- the control socket -----------------------------------------------------------------
    def open_control(self) -> None:
        """Listen for `adopt` requests (owner-only, as the stores' sockets); without it the process
        still serves its stores, it just is not shared."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            private_host_dir()
            path = host_socket(self.key, os.getpid())
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            listener.bind(str(path))  # in a 0700 folder: no one else reaches it before the chmod
            os.chmod(path, 0o600)
            listener.listen(16)
            listener.settimeout(0.5)
        except OSError as exc:
            listener.close()
            _LOG.warning("not shared with other stores (%s)", exc)
            return
        self._control, self._control_path = listener, path

    def run(self) -> None:
        """Answer `adopt` requests until no store is served any more, or SIGTERM; then every store's
        service is stopped and waited for (each removes its socket and info file as it ends)."""
        while True:
            with self._lock:
                if self.stopping.is_set() or not (self._services or self._adopting):
                    self._closing = True  # from here no store is adopted: a run that asks starts its own
                    break
            if self._control is None:
                self.stopping.wait(0.5)
                continue
            try:
                conn, _ = self._control.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self._answer(conn)
        self._close_control()
        with self._lock:
            services, threads = list(self._services), list(self._threads)
        for svc in services:
            svc.stopping.set()
        for thread in threads:
            thread.join(timeout=10)

    def _close_control(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.close()
            self._control = None
        if self._control_path is not None:
            with contextlib.suppress(OSError):
                self._control_path.unlink()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(_REQUEST_TIMEOUT_S)
                request = receive(conn)
                if request is None:
                    return
                if request.get("op") != "adopt":
                    send(conn, _refused(f"unknown call {request.get('op')!r}"))
                    return
                try:
                    reply = self._adopt(request.get("args") or {})
                except Exception as exc:  # noqa: BLE001 - one store that cannot be served ends no other's service
                    reply = _refused(f"{type(exc).__name__}: {exc}")
                send(conn, reply)
            except (OSError, ServiceGone):
                return

    def _adopt(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            uri, root, key = str(args["uri"]), Path(str(args["root"])), str(args["key"])
            sock = Path(str(args["socket"]))
            location = str(args["location"]) if args.get("location") else None
            idle_s = max(0.1, float(args.get("idle_s") or idle_seconds()))
        except (KeyError, TypeError, ValueError) as exc:
            return _refused(f"bad request: {exc}")
        if not uri.startswith("sqlite:///"):
            return _refused("only local stores are shared")
        place = ServicePlace(root / SERVICE_DIR, key, sock)
        with self._lock:
            if self._closing:
                return _refused("exiting")
            if any(s.place == place for s in self._services):
                return {"ok": True, "result": {"key": key, "pid": os.getpid()}}
            if uri in self._served:
                return _refused("served here before (MLflow keeps its engine for the process's life)")
            self._adopting += 1  # the process does not decide to exit meanwhile
        try:
            # Outside the lock: a slow file system here delays this run only, not the other stores'.
            private_dir(place.dir)
            svc = self.add(place, uri, location, idle_s)
        except OSError as exc:
            return _refused(str(exc))
        finally:
            with self._lock:
                self._adopting -= 1
        if svc is None:
            return {"ok": True, "result": {"key": key, "held": True}}  # another service sends for it
        self._note_in_log(place)
        _LOG.info("also serving %s on %s", public_uri(uri), place.socket)
        return {"ok": True, "result": {"key": key, "pid": os.getpid()}}

    def _note_in_log(self, place: ServicePlace) -> None:
        """The store's own log says which process serves it and where that one's log is."""
        with contextlib.suppress(OSError):
            fd = os.open(place.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(f"served by the tracking service process {os.getpid()} (its log: {self.log_path})\n")


def _refused(why: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": "TrackingError", "message": why}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core._tracking.service_host")
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv)
    uri, location = os.environ.get(URI_ENV), os.environ.get(LOCATION_ENV) or None
    if not uri:
        parser.error(f"${URI_ENV} names the tracking URI to serve")
    # MLflow's and alembic's INFO lines stay out of the service's log; its own go in.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(process)d %(levelname)s %(message)s")
    _LOG.setLevel(logging.INFO)
    # Its own session already (started with start_new_session): a Ctrl-C meant for a run never
    # reaches it; a SIGTERM (`core tracking stop` falls back to one) ends it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    key = host_key()  # before MLflow is opened: it sets defaults of its own in the environment
    place = place_for(Path(args.root), uri, location)
    host = ServiceHost(key, log_path=place.log)
    if host.add(place, uri, location, idle_seconds()) is None:
        _LOG.info("another tracking service holds %s: this one exits", place.lock)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: host.stopping.set())
    _LOG.info("tracking service for %s listening on %s", public_uri(uri), place.socket)
    if uri.startswith("sqlite:///"):
        host.open_control()  # other local stores may be served here too (`service_host`)
    host.run()
    _LOG.info("tracking service exits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
