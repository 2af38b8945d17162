"""The `ray` executor: each sweep run is a Ray task. Imported only when chosen.

Where: `--ray-address` (or Ray's own `RAY_ADDRESS`) names an existing cluster; without either a
private local Ray is started for the sweep (`address="local"`: never some other Ray that happens to
run on the machine) and stopped at the end. Its processes listen on 127.0.0.1 only.

How many: at most `max_workers` runs are in flight on any cluster (default: as many as the
cluster's CPUs hold runs), the others wait here, not in Ray's queue, so a 500-run sweep never puts
500 runs on the tracking server at once and a stopped sweep has nothing queued to take back.

On a cluster the runs' folders are node-local (`worker.node_artifact_root`); the task returns the
run's summary, which the driver keeps. Stopping: a small actor holds the sweep's stop flag; each
task watches it and interrupts its own run with SIGINT (core records it KILLED and the task returns
that record), and `close()` waits for every such task before it lets Ray go. A task lost with its
worker or node comes back as `JobResult.lost(node_lost=True)`; the driver decides about retries.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core._deps import require
from core._errors import CoreError, RunInterrupted
from core._records import RecordStatus
from core._sweep import worker
from core._sweep.executors import Executor
from core._sweep.worker import JobResult, SweepJob, execute_job, result_of

#: Ray errors that mean the task's worker process, node or owner went away: the run did not fail,
#: its machine did (`--retries`)
LOST = ("WorkerCrashedError", "NodeDiedError", "OwnerDiedError", "ObjectLostError", "LocalRayletDiedError",
        "ObjectReconstructionFailedError", "ObjectFetchTimedOutError", "RaySystemError")
#: how long to wait for an address nothing answers on (Ray's own wait is minutes)
CONNECT_TIMEOUT_S = 10.0
#: how long `close()` waits for stopped runs to write their records
STOP_WAIT_S = 120.0
#: how often a running task looks at the sweep's stop flag
WATCH_EVERY_S = 0.5


class RayUnavailable(CoreError):
    """The Ray cluster cannot be reached or refused us (exit 2: the address or the token is wrong)."""

    exit_code = 2


@dataclass(frozen=True)
class RayOptions:
    """Per-run resources and environment of the tasks (`--ray-num-cpus`, `--ray-num-gpus`,
    `--ray-resource`, `--ray-runtime-env`, or the sweep file's `sweep.ray`)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    runtime_env: dict[str, Any] | None = None

    def task_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "max_retries": 0}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        if self.resources:
            options["resources"] = dict(self.resources)
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        return options


def resolve_address(address: str | None) -> str:
    """`--ray-address`, else Ray's own `RAY_ADDRESS`, else "local" (a private Ray for this sweep)."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, *, address: str | None = None, max_workers: int | None = None,
                 options: RayOptions | None = None) -> None:
        self.address = resolve_address(address)
        self.max_workers = max_workers
        self.options = options or RayOptions()
        self._inflight: dict[Any, SweepJob] = {}  # Ray's ObjectRef: Ray is imported only once chosen
        self._queue: deque[SweepJob] = deque()
        self._started_here = False
        self._stopping = False
        self._flag: Any = None
        self._study: Any = None
        self._ray: Any = None

    @property
    def on_cluster(self) -> bool:
        """Runs go to an existing cluster, whose nodes need not share this machine's disk."""
        return self.address != "local"

    def connect(self) -> None:
        """Start the private Ray or join the cluster; `RayUnavailable` (one line) when that fails."""
        if self._ray is not None:
            return
        started = time.perf_counter()
        if not self.on_cluster:
            # A private Ray for this sweep: on loopback only (Ray 2.60 binds the machine's address otherwise).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        ray = require("ray", extra="ray", caller="core sweep --executor ray")
        if not ray.is_initialized():
            init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.on_cluster:
                _check_reachable(self.address)
                init["address"] = self.address
            else:
                init["address"] = "local"
                slots = self.max_workers or os.cpu_count() or 1
                init["num_cpus"] = max(1, int(slots * max(self.options.num_cpus, 1)))
                if self.options.resources:
                    init["resources"] = {k: v * slots for k, v in self.options.resources.items()}
            try:
                ray.init(**init)
            except Exception as exc:  # noqa: BLE001 - any failure to connect is one line, not Ray's traceback
                raise RayUnavailable(_connect_failure(self.address, exc)) from None
            self._started_here = True
        self._ray = ray
        self.startup_s = time.perf_counter() - started

    def warm_up(self, workers: int, spec: dict[str, Any], artifact_root: str, tracking_uri: str, *,
                open_store: bool = True) -> None:
        self.connect()

    def _slots(self, jobs: int) -> int:
        if self.max_workers:
            return max(1, self.max_workers)
        try:  # as many runs as the cluster's CPUs hold at once
            cpus = float(self._ray.cluster_resources().get("CPU", 1))
        except Exception:  # noqa: BLE001 - a cluster that cannot say: one at a time is safe
            cpus = 1.0
        return max(1, min(jobs, int(cpus // max(self.options.num_cpus, 0.001)) or 1))

    def submit_all(self, jobs: list[SweepJob]) -> Iterator[JobResult]:
        self.connect()
        ray = self._ray
        if self._flag is None:
            self._flag = ray.remote(num_cpus=0, max_restarts=0)(_StopFlag).remote()
        task = ray.remote(**self.options.task_options())(run_ray_job)
        source = iter(jobs)  # taken as slots free up: a search asks for each trial then
        self._stopping = False
        slots = self._slots(len(jobs))
        while True:
            while len(self._inflight) < slots and not self._stopping:
                job = self._queue.popleft() if self._queue else next(source, None)
                if job is None:
                    break
                self._inflight[task.remote(job, self._flag)] = job
            if not self._inflight:
                break
            done, _ = ray.wait(list(self._inflight), num_returns=1)
            for ref in done:
                job = self._inflight.pop(ref)
                yield self._answer(ref, job)
        self._queue.clear()

    def _answer(self, ref: Any, job: SweepJob) -> JobResult:
        try:
            return self._ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - the task, its worker or its node is gone
            return lost_result(job, exc)

    def retry(self, job: SweepJob) -> bool:
        """Queue `job` (a new attempt of a lost run) behind the others."""
        if self._stopping:
            return False
        self._queue.append(job)
        return True

    def running(self) -> int:
        return len(self._inflight)

    def trial_channel(self, storage: str, study_name: str, pruner: str, options: dict[str, Any]) -> Any:
        """A search's study on the driver's node, behind an actor: each run reports through it, so the
        nodes need neither the driver's disk nor a database; the journal file stays in the sweep's folder."""
        self.connect()
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        actor = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=here)(StudyActor)
        self._study = actor.remote(storage, study_name, pruner, options)
        return self._study

    def stop(self) -> None:
        """Start no more runs, and have the running ones interrupt themselves (they end KILLED)."""
        self._stopping = True
        self._queue.clear()
        if self._flag is not None:
            try:
                self._flag.stop.remote()
            except Exception:  # noqa: BLE001 - Ray is going away: close() cancels instead
                pass

    def drain(self) -> Iterator[JobResult]:
        """The stopped runs' records, as each task returns (its run KILLED, or NOT RUN if it had not
        begun): the driver must not leave before, or Ray would kill them mid-way through writing it."""
        if self._ray is None:
            return
        deadline = time.monotonic() + STOP_WAIT_S
        while self._inflight and time.monotonic() < deadline:
            done, _ = self._ray.wait(list(self._inflight), num_returns=1, timeout=deadline - time.monotonic())
            for ref in done:
                yield self._answer(ref, self._inflight.pop(ref))

    def close(self) -> None:
        if self._ray is None:
            return
        ray = self._ray
        if self._inflight:
            for _ in self.drain():  # a sweep that failed between runs: its running runs still end cleanly
                pass
            for ref in list(self._inflight):
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - it ended meanwhile
                    pass
            self._inflight.clear()
        if self._started_here:
            ray.shutdown()
            self._started_here = False
        self._ray = None


class StudyActor:
    """A search's study, for the runs on a cluster: reports from the tasks, answered by the pruner."""

    def __init__(self, storage: str, study_name: str, pruner: str, options: dict[str, Any]) -> None:
        from core._sweep.trial import load_study

        self.study = load_study(storage, study_name, pruner, options)

    def report(self, trial_id: int, value: float, step: int) -> bool:
        from core._sweep.trial import report_to

        return report_to(self.study, trial_id, value, step)


class _StopFlag:
    """The sweep's stop flag, one small actor (no CPU) the tasks look at."""

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def is_stopped(self) -> bool:
        return self.stopped


def run_ray_job(job: SweepJob, flag: Any) -> JobResult:
    """A sweep run as a Ray task: not started once the sweep is stopping; interrupted (SIGINT to this
    worker, core ends the run KILLED) when it stops meanwhile; the record returned either way."""
    import ray

    if _stopped(ray, flag):
        return JobResult(job.index, job.key, RecordStatus.NOT_RUN, node=worker.NODE,
                         error="the sweep was stopped before this run started")
    done = threading.Event()
    # Ray's workers run tasks with SIGINT blocked: unblocked for the run, so the watcher's signal
    # reaches core's handler at once (a plugin asleep or in C code included) and the run ends KILLED.
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    watcher = threading.Thread(target=_watch_flag, args=(ray, flag, done, threading.get_ident()),
                               name="mlcore-stop-watch", daemon=True)
    watcher.start()
    try:
        return execute_job(job)
    except (KeyboardInterrupt, RunInterrupted) as exc:
        outcome = getattr(exc, "outcome", None)
        if outcome is None:
            return JobResult(job.index, job.key, RecordStatus.NOT_RUN, node=worker.NODE,
                             error="the sweep was stopped before this run started")
        return result_of(job, outcome)
    finally:
        done.set()
        if signal.SIGINT in blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _stopped(ray: Any, flag: Any) -> bool:
    try:
        return bool(ray.get(flag.is_stopped.remote(), timeout=30))
    except Exception:  # noqa: BLE001 - the flag's actor is gone with the driver: nothing to wait for
        return False


def _watch_flag(ray: Any, flag: Any, done: threading.Event, main: int) -> None:
    while not done.wait(WATCH_EVERY_S):
        if _stopped(ray, flag) and not done.is_set():
            if worker._BUSY:
                signal.pthread_kill(main, signal.SIGINT)  # a real signal: it wakes a sleeping plugin too
            return


def lost_result(job: SweepJob, exc: BaseException) -> JobResult:
    """A task that raised in Ray: its node or worker lost (`node_lost`), or it could not even start
    there (mlcore or the plugin missing on that node), said in one line naming the node."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if names & set(LOST):
        return JobResult.lost(job, f"node lost ({_base_name(exc)}): {first}", node_lost=True)
    text = str(exc)
    if "No module named" in text:
        missing = text.split("No module named", 1)[1].split("\n", 1)[0].strip(" '\"")
        node = getattr(exc, "ip", None) or "?"
        what = "mlcore" if missing.split(".")[0] in ("core", "plugins") else f"the module '{missing}'"
        return JobResult(job.index, job.key, RecordStatus.FAILED, node=node,
                         error=f"ModuleNotFoundError on node {node}: {what} is not installed there "
                               f"(No module named '{missing}'): install it on the node, or pass --ray-runtime-env")
    return JobResult.lost(job, f"{_base_name(exc)}: {first}")


def _base_name(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    return type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__


def _check_reachable(address: str) -> None:
    """A bounded look at the cluster's address before Ray's own, unbounded, connection attempt."""
    target = address.removeprefix("ray://")
    if target == "auto":
        return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"Ray address '{address}' is not HOST:PORT or ray://HOST:PORT: pass --ray-address "
                             "(or set RAY_ADDRESS) to the head node's GCS address, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayUnavailable(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or type(exc).__name__} within "
            f"{CONNECT_TIMEOUT_S:.0f}s): check --ray-address / RAY_ADDRESS (the head's GCS port, 6379 by default; "
            "ray://HOST:10001 for Ray Client), or leave both unset for a private local Ray") from None


def _connect_failure(address: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "AuthenticationError" in names or "token" in first.lower() or "unauthenticated" in first.lower():
        return (f"the Ray cluster at {address} refused the connection ({first}): set RAY_AUTH_TOKEN (or "
                "RAY_AUTH_TOKEN_PATH) to the cluster's token, the one its head was started with")
    return (f"cannot connect to the Ray cluster at {address}: {type(exc).__name__}: {first} (check --ray-address / "
            "RAY_ADDRESS, and RAY_AUTH_TOKEN if the cluster uses token authentication)")

