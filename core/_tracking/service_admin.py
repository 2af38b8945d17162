"""`core tracking status|stop`: the tracking services of an artifact root, looked at and stopped.

A service is found by its info file (`tracking-service/<key>.json`) and asked over its socket; one
that does not answer is reported as such. Stopping asks it first (it stops taking connections and
exits), then, if it is still there, sends SIGTERM to its pid, but only to a process that is a
tracking service (its command line says so): a pid reused by another process is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core._tracking.service_wire import SERVICE_DIR, ServiceGone, receive, send

#: matches `core._tracking.service_host` and an older version's `core._tracking.service` alike
_MODULE = "core._tracking.service"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One service as its info file and its answer describe it."""

    pid: int
    uri: str
    socket: str
    key: str
    #: "ready", "starting" (still opening the store), "not answering", or "gone" (its process is not there)
    state: str
    clients: int | None = None
    calls: int | None = None
    runs: int | None = None
    #: how many stores its process serves (one process may serve several local stores)
    stores: int | None = None
    idle_s: float | None = None
    uptime_s: float | None = None
    idle_timeout_s: float | None = None
    #: when this store's service started (its info file's): told apart from a later one for the same store
    started: float | None = None
    info_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


def services(root: Path) -> list[ServiceInfo]:
    """The services whose info files are in `root`, each asked how it is."""
    folder = Path(root) / SERVICE_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(_ask({**info, "info_file": str(path)}, pid))
    return found


def _ask(info: dict[str, Any], pid: int) -> ServiceInfo:
    base = {"pid": pid, "uri": str(info.get("uri")), "socket": str(info.get("socket")), "key": str(info.get("key")),
            "idle_timeout_s": info.get("idle_timeout_s"), "started": info.get("started"),
            "info_file": info.get("info_file")}
    if not is_service(pid):
        return ServiceInfo(**base, state="gone")
    try:
        status = request(Path(base["socket"]), "status", timeout=3.0)
    except (OSError, ServiceGone):
        return ServiceInfo(**base, state="not answering")
    return ServiceInfo(**base, state="ready" if status.get("ready") else "starting", clients=status.get("clients"),
                       calls=status.get("calls"), runs=status.get("runs"), idle_s=status.get("idle_s"),
                       uptime_s=status.get("uptime_s"), stores=status.get("stores"))


def request(sock_path: Path, op: str, *, timeout: float) -> dict[str, Any]:
    """One request on a connection of its own; the result, or OSError/ServiceGone."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        send(sock, {"op": op, "args": {}})
        reply = receive(sock)
    if not reply or not reply.get("ok"):
        raise ServiceGone("no answer")
    return dict(reply.get("result") or {})


def is_service(pid: int) -> bool:
    """Whether `pid` is a tracking service of this user's (its command line names the module)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        # No /proc (macOS): a live process with that pid is trusted to be it.
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return not Path("/proc").is_dir()
    return _MODULE.encode() in cmdline


def stop(service: ServiceInfo, *, wait_s: float = 10.0) -> bool:
    """Stop one store's service: asked, then SIGTERM to its process if it still serves the store; True
    when it no longer does. A process that also serves other stores (`service_host`) goes on serving
    them when asked; only one that does not answer gets the SIGTERM, which ends all of it."""
    if not _serving(service):
        return True
    with contextlib.suppress(OSError, ServiceGone):
        request(Path(service.socket), "stop", timeout=3.0)
    stopped = lambda: not _serving(service)  # noqa: E731
    if _within(wait_s / 2, stopped):
        if service.stores == 1:  # its process served this store alone: it exits now, waited for
            _within(wait_s / 2, lambda: not is_service(service.pid))
        return True
    with contextlib.suppress(OSError):
        if is_service(service.pid):
            os.kill(service.pid, signal.SIGTERM)
    return _within(wait_s / 2, stopped)


def _within(seconds: float, done: Callable[[], bool]) -> bool:
    """Whether `done()` comes true within `seconds` (asked every 50 ms, and once more at the end)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()


def _serving(service: ServiceInfo) -> bool:
    """Its process is there and its info file still names it (a service removes the file as it stops;
    a later service for the same store, maybe in the same process, writes another start time)."""
    if not is_service(service.pid) or service.info_file is None:
        return False
    try:
        info = json.loads(Path(service.info_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("pid") == service.pid and info.get("started") == service.started
