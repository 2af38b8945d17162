"""The `ray` executor: each sweep run is a Ray task on a local Ray (started here, stopped at
the end) or an existing cluster (`--ray-address`). Imported only when chosen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from core._deps import require
from core._sweep.executors import Executor
from core._sweep.worker import JobResult, SweepJob, execute_job


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, *, address: str | None = None, max_workers: int | None = None) -> None:
        self.address = address
        self.max_workers = max_workers
        self._refs: dict[Any, SweepJob] = {}  # Ray's ObjectRef: Ray is imported only once chosen
        self._started_here = False
        self._ray = None

    def submit_all(self, jobs: list[SweepJob]) -> Iterator[JobResult]:
        ray = self._ray = require("ray", extra="ray", caller="core sweep --executor ray")
        started = time.perf_counter()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if self.address:
                options["address"] = self.address
            elif self.max_workers:
                options["num_cpus"] = self.max_workers
            ray.init(**options)
            self._started_here = True
        self.startup_s = time.perf_counter() - started
        task = ray.remote(num_cpus=1, max_retries=0)(execute_job)
        self._refs = {task.remote(job): job for job in jobs}
        pending = list(self._refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                job = self._refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task interrupted or lost: the run folder has the truth
                    yield JobResult.lost(job, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")

    def running(self) -> int:
        return len(self._refs)

    def stop(self) -> None:
        if self._ray is None:
            return
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref)  # KeyboardInterrupt inside the task: the runner records KILLED
            except Exception:  # noqa: BLE001 - already finished
                pass

    def close(self) -> None:
        if self._ray is not None and self._started_here:
            self._ray.shutdown()
            self._started_here = False
