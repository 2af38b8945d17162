"""What a run and its tracking service say to each other over their Unix socket, and where they meet.

Pure standard library: the run side imports this and never MLflow. A message is a 4-byte big-endian
length and that many bytes of JSON (NaN and infinities allowed: Python on both ends). A request is
`{"op": ..., "args": {...}}`; a reply `{"ok": true, "result": ...}` or `{"ok": false, "error": {"type",
"message"}}` (a backend's failure, relayed: the service itself is fine).

Where: `ServicePlace`, the files of one service in `<artifact root>/tracking-service/` (owner-only,
0700): `<key>.sock` (0600), `<key>.lock` (held by the one service that sends), `<key>.json` (what
`core tracking status` shows), `<key>.log` (its stderr). A socket path longer than AF_UNIX allows
(108 bytes on Linux, 104 on macOS) moves to `$TMPDIR/mlcore-<uid>/<hash>.sock`, also owner-only.

One process may serve several local stores (`service_host`): each live service process also listens
on a control socket, `<host dir>/<host key>-<pid>.sock`, where a run whose store has no service yet
asks it to serve that store too (`adopt`) instead of starting a process that imports MLflow again.
The host dir is `$XDG_CACHE_HOME/mlcore/tracking-hosts` (owner-only; moved under
`$TMPDIR/mlcore-<uid>/` when too long for AF_UNIX); the host key says which processes may serve a
run's store: the same interpreter, the same core, the same umask and `MLFLOW_*` settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core._files import user_cache_dir

SERVICE_DIR = "tracking-service"
#: bytes a socket path may have here (AF_UNIX: 108 with the NUL on Linux, 104 on macOS)
MAX_SOCKET_PATH = 100
#: the largest message either side accepts (a batch of 1,000 metrics is ~100 KB)
MAX_MESSAGE = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")
#: the environment variables that carry the target to the service (never its command line: `ps` shows
#: that to every user, and a server URI may hold a password)
URI_ENV, LOCATION_ENV = "CORE_TRACKING_SERVICE_URI", "CORE_TRACKING_SERVICE_ARTIFACT_LOCATION"


class ServiceGone(ConnectionError):
    """The service closed the connection, sent something that is not a reply, or did not answer in time."""


@dataclass(frozen=True, slots=True)
class ServicePlace:
    """The files of the service for one tracking target, in one artifact root."""

    dir: Path
    key: str
    socket: Path

    @property
    def lock(self) -> Path:
        return self.dir / f"{self.key}.lock"

    @property
    def info(self) -> Path:
        return self.dir / f"{self.key}.json"

    @property
    def log(self) -> Path:
        return self.dir / f"{self.key}.log"


def service_key(uri: str, artifact_location: str | None) -> str:
    """One service per target and Python: the URI (credentials included, so other credentials get
    their own), the artifact location, the interpreter, and MLflow's credential variables."""
    creds = sorted((k, v) for k, v in os.environ.items() if k.startswith("MLFLOW_TRACKING_"))
    text = json.dumps([uri, artifact_location, sys.executable, creds])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


#: `MLFLOW_*` variables core itself sets as defaults (the CLI its logging, `MlflowTracking` its HTTP
#: bounds: these only matter for a server, never shared): a process that set them is no different
_SET_BY_CORE = frozenset({
    "MLFLOW_LOGGING_LEVEL", "MLFLOW_CONFIGURE_LOGGING", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "MLFLOW_HTTP_REQUEST_TIMEOUT",
})


def host_key() -> str:
    """Which service processes may serve this process's stores: the interpreter and core it runs (the
    same MLflow, the same code), the umask (the store's files get the modes its own run would give
    them) and every `MLFLOW_*` setting in its environment but core's own defaults (a store is never
    served with another run's settings). Computed by a service process once, as it starts."""
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("MLFLOW_") and k not in _SET_BY_CORE)
    core_dir = Path(__file__).resolve().parents[1]  # the `core` package this code is part of
    text = json.dumps([sys.executable, str(core_dir), _umask(), settings])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _umask() -> int:
    """This process's umask, read without changing it where Linux tells it (`os.umask` sets it, for a
    moment, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def host_dir() -> Path:
    """Where live service processes' control sockets are (made owner-only when used)."""
    folder = user_cache_dir() / "tracking-hosts"
    if len(os.fsencode(folder)) + len("/0123456789abcdef-4194304.sock") > MAX_SOCKET_PATH:
        digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"mlcore-{os.getuid()}" / f"hosts-{digest}"
    return folder


def host_socket(key: str, pid: int) -> Path:
    return host_dir() / f"{key}-{pid}.sock"


def private_host_dir() -> Path:
    """`host_dir()`, made or checked owner-only (with its `mlcore-<uid>` parent when under $TMPDIR)."""
    folder = host_dir()
    if folder.parent.name == f"mlcore-{os.getuid()}":
        private_dir(folder.parent)
    return private_dir(folder)


def place_for(root: Path, uri: str, artifact_location: str | None) -> ServicePlace:
    folder = Path(root) / SERVICE_DIR
    key = service_key(uri, artifact_location)
    sock = folder / f"{key}.sock"
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        # Too long for AF_UNIX: a short path keyed by the long one, in a folder only this user may enter.
        digest = hashlib.sha256(os.fsencode(sock)).hexdigest()[:20]
        sock = Path(tempfile.gettempdir()) / f"mlcore-{os.getuid()}" / f"{digest}.sock"
    return ServicePlace(folder, key, sock)


def private_dir(path: Path) -> Path:
    """Make `path` (mode 0700) or check that it is this user's and nobody else's; OSError if not."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder of this user's: the tracking service will not use it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours: made owner-only (a umask or an older version left it open)
    return path


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":"), allow_nan=True).encode("utf-8")
    sock.sendall(_HEADER.pack(len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message; None when the other side closed the connection between messages."""
    header = _read(sock, _HEADER.size, first=True)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ServiceGone(f"message of {size} bytes refused")
    body = _read(sock, size)
    try:
        message = json.loads(body.decode("utf-8")) if body is not None else None
    except ValueError as exc:
        raise ServiceGone(f"not a message: {exc}") from None
    if not isinstance(message, dict):
        raise ServiceGone("not a message")
    return message


def _read(sock: socket.socket, size: int, *, first: bool = False) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            if first and got == 0:
                return None
            raise ServiceGone("the connection closed mid-message")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
