"""Where sweep runs execute, behind one small interface.

- `sequential`: in this process, one after another; a debugger stops where you expect.
- `process`: a pool of spawned worker processes, each running one run at a time
  (workers are reused, so imports are paid once per worker, not once per run).
- `ray`: Ray tasks on a local Ray started on demand or an existing cluster
  (`core._sweep.ray_executor`, which the driver imports only when chosen).

Each executor yields a `JobResult` as each run finishes, so the driver can report every
failure the moment it happens. On Ctrl-C or SIGTERM, `stop()` interrupts what is
running (those runs end KILLED, with their record) and nothing new starts.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from core._errors import BadInput
from core._sweep.worker import JobResult, SweepJob, execute_job, init_pool_worker, validate_specs, warm_worker

if TYPE_CHECKING:
    from concurrent.futures import Future

EXECUTORS = ("sequential", "process", "ray")


#: set to `portable` while a sweep driver validates runs that will execute on other machines
VALIDATION_ENV = "CORE_VALIDATION"


class Executor(ABC):
    name = "abstract"
    #: seconds spent starting workers / connecting, reported apart from the runs
    startup_s: float = 0.0

    @abstractmethod
    def submit_all(self, jobs: list[SweepJob]) -> Iterator[JobResult]:
        """Run `jobs`; yield each result as it finishes (any order). `jobs` is taken one at a time, as
        a worker frees up (a search asks for each trial then); `len(jobs)` is at most how many."""

    def warm_up(self, workers: int, spec: dict[str, Any], artifact_root: str, tracking_uri: str, *,
                open_store: bool = True) -> None:
        """Start workers now and let them import what runs of `spec` need (`open_store`: MLflow and the
        store too, for runs that will track in-process). Default: nothing."""

    def validate(self, specs: list[tuple[dict[str, Any], str]]) -> None:
        """Raise `BadInput` for the first (spec, source) `core run` would refuse. Default: here. For a
        cluster, what only the node that runs can know (its files, its devices) is left to that node:
        `CORE_VALIDATION=portable` while the driver checks (see `plugins.common.fields.local_checks`)."""
        previous = os.environ.get(VALIDATION_ENV)
        if self.on_cluster:
            os.environ[VALIDATION_ENV] = "portable"
        try:
            message = validate_specs(specs)
        finally:
            if self.on_cluster:
                if previous is None:
                    os.environ.pop(VALIDATION_ENV, None)
                else:
                    os.environ[VALIDATION_ENV] = previous
        if message is not None:
            raise BadInput(message)

    #: runs go to an existing cluster, on nodes that need not share this machine's disk (Ray)
    on_cluster: bool = False

    def running(self) -> int:
        return 0

    def retry(self, job: SweepJob) -> bool:
        """Run `job` (a new attempt of a run whose task was lost) before `submit_all` ends; False when
        this executor cannot (the default) or is stopping."""
        return False

    def trial_channel(self, storage: str, study_name: str, pruner: str, options: dict[str, Any]) -> Any:
        """How a search's runs reach its study: None (the default) for the study's journal file, which
        every run of this executor can open (one machine); an executor whose runs may be elsewhere
        returns what they report through instead (Ray: an actor on the driver's node)."""
        return None

    def stop(self) -> None:
        """Interrupt running runs (they end KILLED) and start no more."""

    def drain(self) -> Iterator[JobResult]:
        """After `stop`: the answers of the runs that were still running, as they end. Default: none
        (their folders, on this machine, have the truth)."""
        return iter(())

    def close(self) -> None:
        """Release workers."""


class SequentialExecutor(Executor):
    name = "sequential"

    def __init__(self) -> None:
        self._busy = False

    def submit_all(self, jobs: list[SweepJob]) -> Iterator[JobResult]:
        for job in jobs:
            self._busy = True
            try:
                yield execute_job(job)  # KeyboardInterrupt / RunInterrupted propagate to the driver
            finally:
                self._busy = False

    def running(self) -> int:
        return int(self._busy)


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool = None
        self._futures: dict[Future[JobResult], SweepJob] = {}
        self._stopping = False
        self._workers = 0

    def warm_up(self, workers: int, spec: dict[str, Any], artifact_root: str, tracking_uri: str, *,
                open_store: bool = True) -> None:
        self._start(workers)
        for _ in range(self._workers):
            self._pool.submit(warm_worker, spec, artifact_root, tracking_uri, open_store)

    def validate(self, specs: list[tuple[dict[str, Any], str]]) -> None:
        # In a worker, which imports the plugin's libraries anyway; the driver then never does.
        self._start(1)
        message = self._pool.submit(validate_specs, specs).result()
        if message is not None:
            raise BadInput(message)

    def _start(self, workers: int) -> None:
        if self._pool is not None:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor as Pool

        started = time.perf_counter()
        self._workers = max(1, min(self.max_workers, workers))
        threads = max(1, (os.cpu_count() or 1) // self._workers)
        self._pool = Pool(max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"),
                          initializer=init_pool_worker, initargs=(threads, os.getpid()))
        self.startup_s = time.perf_counter() - started

    def submit_all(self, jobs: list[SweepJob]) -> Iterator[JobResult]:
        from concurrent.futures import FIRST_COMPLETED, wait

        self._start(len(jobs))
        workers = self._workers
        # Submitted one per free worker, not all at once: the pool would queue ahead, and a queued
        # job cannot be taken back when the sweep is stopped.
        queue = iter(jobs)
        self._stopping = False
        for job in itertools.islice(queue, workers):
            self._submit(job)
        while self._futures:
            done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
            for future in done:
                job = self._futures.pop(future)
                nxt = None if self._stopping else next(queue, None)
                if nxt is not None:
                    self._submit(nxt)
                exc = future.exception()
                if exc is None:
                    yield future.result()
                else:  # the worker died, or its run was interrupted: the run folder has the truth
                    yield JobResult.lost(job, f"{type(exc).__name__}: {exc}")

    def _submit(self, job: SweepJob) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            self._futures[self._pool.submit(execute_job, job)] = job
        except BrokenProcessPool:
            # A worker died (killed, out of memory): what is left cannot run on this pool.
            # Runs not started are reported NOT RUN, and `--resume` runs them.
            self._stopping = True

    def running(self) -> int:
        return sum(1 for f in self._futures if f.running())

    def stop(self) -> None:
        if self._pool is None:
            return
        self._stopping = True
        # SIGTERM makes each worker's runner end its run KILLED; core defers it while the
        # record is written, so it never cuts a summary in half.
        for process in list(getattr(self._pool, "_processes", {}).values()):
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self._pool is None:
            return
        if self._stopping or any(not f.done() for f in self._futures):
            # Runs told to stop are still writing their records: wait for them.
            self._pool.shutdown(wait=True, cancel_futures=True)
        else:
            # Every run is over and recorded; the idle workers hold nothing, so they are not kept
            # waiting through their interpreters' slow teardown.
            processes = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()
        self._pool = None

