"""A run's side of the local tracking service: `ServiceBackend`, a `TrackingBackend` that forwards every
call over the service's Unix socket, and `connect`, which finds the service or starts it.

The recorder above it is unchanged: it journals each call, sends batches, and advances the watermark
when a call returns, which here is when the service answered after MLflow accepted the call. When
the service cannot be reached, dies or does not answer in time (`CORE_TRACKING_SERVICE_TIMEOUT`
seconds, default 30; ten times that for artifacts and models), this run gives it up and sends its
calls in-process from then on (importing MLflow after all); what that cannot send stays pending in
the journal for `core sync`, as before. Every call may be sent twice safely (a start adopts the run
tagged with its core run id, MLflow keeps a metric point once), so a call the service made before it
died is not duplicated by the resend.

Standard library only, plus core's own light modules: a run that uses the service never imports MLflow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core._errors import ModelNotFound, TrackingError
from core._tracking.backend import Metric, ModelNotLogged, Registered, TrackingBackend
from core._tracking.model_uri import ModelUri, ModelVersion
from core._tracking.service_wire import (
    LOCATION_ENV,
    URI_ENV,
    ServiceGone,
    ServicePlace,
    host_dir,
    host_key,
    place_for,
    private_dir,
    receive,
    send,
)
from core._tracking.target import TrackingTarget, public_uri
from core.contracts import RunStatus

SERVICE_ENV = "CORE_TRACKING_SERVICE"
TIMEOUT_ENV = "CORE_TRACKING_SERVICE_TIMEOUT"
START_TIMEOUT_ENV = "CORE_TRACKING_SERVICE_START_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
#: how long a run waits for a service that is still importing MLflow and opening (or making) the store
DEFAULT_START_TIMEOUT_S = 120.0
#: how long a live service process may take to say it serves a run's store too (milliseconds when well;
#: one that does not answer in time costs a run this, then it starts a process of its own)
_ADOPT_TIMEOUT_S = 1.0
_LOG = logging.getLogger("mlcore.tracking")


def enabled() -> bool:
    """`CORE_TRACKING_SERVICE=off` (or 0, false, no) sends in-process, as before the service existed."""
    return os.environ.get(SERVICE_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def _seconds(env: str, default: float) -> float:
    try:
        return max(0.1, float(os.environ.get(env, default)))
    except ValueError:
        return default


def usable_for(target: TrackingTarget) -> bool:
    """Targets the service sends to: MLflow stores, not the in-memory fake or an offline run."""
    return enabled() and not target.is_memory and not target.offline and hasattr(os, "getuid")


def connect(target: TrackingTarget, root: Path, *, logger: logging.Logger | None = None) -> ServiceBackend | None:
    """A backend talking to the service for `target` (started, detached, if none runs); None when the
    service cannot be used (it failed to start, or did not answer): the caller then opens MLflow itself."""
    logger = logger or _LOG
    try:
        place = place_for(Path(root), target.uri, target.artifact_location)
    except OSError as exc:
        logger.warning("tracking service unavailable (%s): sending in-process", exc)
        return None
    timeout = _seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)
    deadline = time.monotonic() + min(timeout, 20.0)  # for the service to bind its socket (not to be ready)
    spawned: subprocess.Popen[bytes] | None = None
    asked_hosts = False
    pause, resets = 0.01, 0
    while True:
        try:
            sock = _open_socket(place, min(timeout, 10.0))
        except (FileNotFoundError, ConnectionRefusedError):  # none, or one that died: start one
            if spawned is None and not asked_hosts and target.sqlite_path is not None:
                asked_hosts = True  # a process already serving another store takes this one too
                if _adopted(place, target, Path(root)):
                    continue
                deadline = time.monotonic() + min(timeout, 20.0)  # asking took nothing from the start's time
            if spawned is None:
                try:
                    spawned = _spawn(place, target, Path(root))
                except OSError as exc:
                    logger.warning("could not start the tracking service (%s): sending in-process", exc)
                    return None
            elif spawned.poll() not in (None, 0):  # (0: another service holds the lock and is starting)
                logger.warning("the tracking service failed to start (see %s): sending in-process", place.log)
                return None
        except OSError as exc:
            logger.warning("tracking service at %s unusable (%s): sending in-process", place.socket, exc)
            return None
        else:
            try:
                hello = _exchange(sock, "hello", {}, min(timeout, 10.0))
                if hello.get("ok") and (hello.get("result") or {}).get("key") == place.key:
                    info = hello["result"]
                    return ServiceBackend(target, place, sock, pid=int(info["pid"]), ready=bool(info.get("ready")),
                                          timeout=timeout, logger=logger)
                raise ServiceGone("the socket answered as another service")
            except (OSError, ServiceGone) as exc:
                sock.close()
                resets += 1
                if resets > 2 or isinstance(exc, TimeoutError):  # hung (or not ours): not waited on again
                    logger.warning("tracking service at %s did not answer (%s): sending in-process",
                                   place.socket, exc)
                    return None
                # (a reset: it was exiting after its idle time as this run came; the next one starts anew)
        if time.monotonic() > deadline:
            logger.warning("the tracking service did not start in time (see %s): sending in-process", place.log)
            return None
        time.sleep(pause)
        pause = min(pause * 1.5, 0.1)


def _open_socket(place: ServicePlace, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(place.socket))
    except BaseException:
        sock.close()
        raise
    return sock


def _adopted(place: ServicePlace, target: TrackingTarget, root: Path) -> bool:
    """Whether a live service process of this user's, compatible with this one (`host_key`), now serves
    `target` too (or found another service holding it): the run then connects to the store's own
    socket as usual. False when none would: the run starts a process of its own."""
    from core._tracking.service import idle_seconds

    try:
        folder = host_dir()
        info = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        return False  # not a folder only this user can write: nothing in it is trusted
    key = host_key()
    hosts = sorted(folder.glob(f"{key}-*.sock"), key=_mtime, reverse=True)
    request = {"uri": target.uri, "location": target.artifact_location, "root": str(root), "key": place.key,
               "socket": str(place.socket), "idle_s": idle_seconds()}
    for path in hosts[:2]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(_ADOPT_TIMEOUT_S)
                sock.connect(str(path))
                send(sock, {"op": "adopt", "args": request})
                reply = receive(sock)
        except ConnectionRefusedError:
            _forget_if_dead(path)
            continue
        except (OSError, ServiceGone):
            continue
        if reply and reply.get("ok") and (reply.get("result") or {}).get("key") == place.key:
            return True
    return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _forget_if_dead(path: Path) -> None:
    """A control socket whose process is gone (killed: it could not remove it) is removed."""
    from core._tracking.service_admin import is_service

    try:
        pid = int(path.stem.rsplit("-", 1)[1])
    except (ValueError, IndexError):
        return
    if not is_service(pid):  # (a zombie no one reaped counts as gone)
        with contextlib.suppress(OSError):
            path.unlink()


def _spawn(place: ServicePlace, target: TrackingTarget, root: Path) -> subprocess.Popen[bytes]:
    """The service, detached: its own session (a Ctrl-C on this run never reaches it), no terminal, its
    output in its log file, the target in its environment. Reaped by a thread should it end first."""
    private_dir(place.dir)
    fd = os.open(place.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_size > 1 << 20:  # kept short: only the latest services' lines matter
            os.ftruncate(fd, 0)
        env = dict(os.environ)
        env[URI_ENV] = target.uri
        env[LOCATION_ENV] = target.artifact_location or ""
        proc = subprocess.Popen(
            [sys.executable, "-m", "core._tracking.service_host", "--root", str(root)],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=str(place.dir), env=env,
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(fd)
    threading.Thread(target=proc.wait, name="mlcore-service-reaper", daemon=True).start()
    return proc


def _exchange(sock: socket.socket, op: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    sock.settimeout(timeout)
    send(sock, {"op": op, "args": args})
    reply = receive(sock)
    if reply is None:
        raise ServiceGone("the service closed the connection")
    return reply


_REMOTE_TYPES: dict[str, type[TrackingError]] = {}


def _remote_error(error: Mapping[str, Any]) -> Exception:
    """The backend's failure as the service relayed it: the same class name (the run's log and summary
    read as they would in-process), a `TrackingError`; core's own kinds as themselves."""
    name, message = str(error.get("type") or "TrackingError"), str(error.get("message") or "")
    if name == "ModelNotLogged":
        return ModelNotLogged(message)
    if name == "ModelNotFound":
        return ModelNotFound(message)
    if name not in _REMOTE_TYPES:
        _REMOTE_TYPES[name] = type(name, (TrackingError,), {"__module__": __name__})
    return _REMOTE_TYPES[name](message)


class ServiceBackend(TrackingBackend):
    """Tracks through the local tracking service; in-process once the service failed this run."""

    name = "mlflow"
    #: the service makes experiments under the store's first-use lock itself (`prepare_experiment`)
    prepares_experiments = True
    #: the service makes the calls: the run's recorder hands them over from its sender thread, and the
    #: plugin does not wait for each batch's answer (`RunRecorder`)
    sends_in_background = True

    def __init__(self, target: TrackingTarget, place: ServicePlace, sock: socket.socket, *, pid: int, ready: bool,
                 timeout: float, logger: logging.Logger) -> None:
        self.target = target
        self.place = place
        self.pid = pid
        self._sock: socket.socket | None = sock
        self._warming = not ready
        self._timeout = timeout
        self._logger = logger
        self._lock = threading.Lock()
        self._local: TrackingBackend | None = None
        self._experiments: set[str] = set()
        #: why the service was given up, once it was
        self.fell_back: str | None = None

    @property
    def uri(self) -> str:
        return public_uri(self.target.uri)

    # -- the calls ------------------------------------------------------------------
    def experiment_id(self, name: str) -> str:
        self._experiments.add(name)
        return str(self._call("experiment_id", {"name": name}, lambda b: _local_experiment(b, self.target, name)))

    def start_run(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> str:
        self._experiments.add(experiment)
        return str(self._call(
            "start_run",
            {"experiment": experiment, "run_name": run_name, "tags": dict(tags), "start_time_ms": start_time_ms},
            lambda b: (_local_experiment(b, self.target, experiment),
                       b.start_run(experiment=experiment, run_name=run_name, tags=tags,
                                   start_time_ms=start_time_ms))[1]))

    def log_batch(self, run_id: str, *, metrics: Sequence[Metric] = (), params: Mapping[str, str] = {},
                  tags: Mapping[str, str] = {}) -> None:
        wire = [[m.key, m.value, m.step, m.timestamp_ms] for m in metrics]
        self._call("log_batch", {"run_id": run_id, "metrics": wire, "params": dict(params), "tags": dict(tags)},
                   lambda b: b.log_batch(run_id, metrics=metrics, params=params, tags=tags))

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", {"run_id": run_id, "local_path": str(Path(local_path).resolve()),
                                    "artifact_path": artifact_path},
                   lambda b: b.log_artifact(run_id, local_path, artifact_path), slow=True)

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self._call("end_run", {"run_id": run_id, "status": status.value, "end_time_ms": end_time_ms},
                   lambda b: b.end_run(run_id, status, end_time_ms))

    def has_run(self, core_run_id: str) -> bool | None:
        found = self._call("has_run", {"core_run_id": core_run_id}, lambda b: b.has_run(core_run_id))
        return None if found is None else bool(found)

    def download_artifact(self, core_run_id: str, artifact_path: str, dst_dir: Path) -> Path:
        return Path(self._call("download_artifact", {"core_run_id": core_run_id, "artifact_path": artifact_path,
                                                     "dst_dir": str(Path(dst_dir).resolve())},
                               lambda b: b.download_artifact(core_run_id, artifact_path, dst_dir), slow=True))

    def find_model(self, uri: ModelUri) -> ModelVersion:
        found = self._call("find_model", {"uri": uri.uri}, lambda b: b.find_model(uri), slow=True)
        return found if isinstance(found, ModelVersion) else _version(found)

    def download_model(self, model: ModelVersion, dst_dir: Path) -> Path:
        wire = {**asdict(model), "aliases": list(model.aliases), "tags": dict(model.tags)}
        return Path(self._call("download_model", {"model": wire, "dst_dir": str(Path(dst_dir).resolve())},
                               lambda b: b.download_model(model, dst_dir), slow=True))

    def register_model(self, run_id: str, *, artifact_path: str, name: str, alias: str | None,
                       tags: Mapping[str, str], core_run_id: str) -> Registered:
        done = self._call(
            "register_model",
            {"run_id": run_id, "artifact_path": artifact_path, "name": name, "alias": alias, "tags": dict(tags),
             "core_run_id": core_run_id},
            lambda b: b.register_model(run_id, artifact_path=artifact_path, name=name, alias=alias, tags=tags,
                                       core_run_id=core_run_id), slow=True)
        return done if isinstance(done, Registered) else Registered(**done)

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        found = self._call("model_versions", {"name": name}, lambda b: b.model_versions(name), slow=True)
        return [v if isinstance(v, ModelVersion) else _version(v) for v in found]

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        if self._local is not None:
            self._local.close()

    # -- service or in-process ------------------------------------------------------------
    def _call(self, op: str, args: dict[str, Any], local: Callable[[TrackingBackend], Any], *,
              slow: bool = False) -> Any:
        with self._lock:
            if self._sock is not None:
                timeout = self._timeout * (10 if slow else 1)
                if self._warming:
                    timeout = max(timeout, _seconds(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT_S))
                try:
                    reply = _exchange(self._sock, op, args, timeout)
                    if not isinstance(reply.get("ok"), bool):
                        raise ServiceGone("not a reply")
                except (OSError, ServiceGone) as exc:
                    self._give_up(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                else:
                    self._warming = False
                    if reply["ok"]:
                        return reply.get("result")
                    raise _remote_error(reply.get("error") or {})
        return local(self._in_process())

    def _give_up(self, why: str) -> None:
        """The service died, hung or answered nonsense: this run sends in-process from now on (a hung
        service that wakes up may still make the call it had: every call is safe to make twice)."""
        self.fell_back = why
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._logger.warning("tracking service (pid %s) failed (%s): this run sends its tracking calls "
                             "in-process from now on", self.pid, why)

    def _in_process(self) -> TrackingBackend:
        if self._local is None:
            from core._tracking import open_backend

            self._local = open_backend(self.target)
        return self._local


def _local_experiment(backend: TrackingBackend, target: TrackingTarget, name: str) -> str:
    from core._tracking import prepare_experiment

    prepare_experiment(backend, target, name)
    experiment_id = getattr(backend, "experiment_id", None)
    return str(experiment_id(name)) if experiment_id is not None else name


def _version(fields: Mapping[str, Any]) -> ModelVersion:
    data = dict(fields)
    data["aliases"] = tuple(data.get("aliases") or ())
    return ModelVersion(**data)
