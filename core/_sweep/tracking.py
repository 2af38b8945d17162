"""How a sweep's processes on this machine reach tracking: through one local tracking service
(`core._tracking.service`), started by the driver before any run starts and shared by the parent run
and every run (sequential, process-pool workers, a local Ray's workers), so that no worker imports
MLflow or opens the store for its tracking.

The driver starts it in a thread (`SweepTracking.start`) while the workers start and the configs are
checked, and the service imports MLflow and opens the store meanwhile; the driver waits for it only
when it makes the parent run (`backend`), before any job is handed out. Every run then finds the
service answering and none starts one of its own (the service's lock makes a race harmless, but each
racer would be a wasted process).

When the driver cannot use it (it did not start or did not answer; `CORE_TRACKING_SERVICE=off`; an
in-memory or offline target; a store file that cannot be opened), the parent run opens MLflow in the
driver and every run is told to send in-process (`SweepJob.tracking_service`), exactly as a single
run does then, rather than each run trying the service again and waiting for it. A run whose service
dies mid-sweep falls back in-process, or starts a new one, as a single run does.

A run on a cluster's other node is told nothing: this machine's service is not there, and each node
decides as a single run on it does.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core._tracking import TrackingTarget
from core._tracking.backend import TrackingBackend

_LOG = logging.getLogger("mlcore.sweep")


class SweepTracking:
    """The driver's connection to the sweep's tracking service, once started; what its runs are told."""

    def __init__(self, target: TrackingTarget, root: Path) -> None:
        from core._runner import tracking_service_wanted

        self.target = target
        self.root = Path(root)
        #: the service is to be tried: workers then need not open the store while they warm up
        self.wanted = tracking_service_wanted(target)
        self._backend: TrackingBackend | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the service (or find the one running) in the background; once, and only if wanted."""
        if self._started or not self.wanted:
            return
        self._started = True
        self._thread = threading.Thread(target=self._connect, name="mlcore-sweep-tracking", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        from core._tracking import service_client

        backend = service_client.connect(self.target, self.root, logger=_LOG)
        with self._lock:
            if not self._closed:
                self._backend = backend
                return
        if backend is not None:  # the sweep ended before the service answered
            backend.close()

    def backend(self) -> TrackingBackend | None:
        """The driver's `ServiceBackend` (for the parent run), waiting for the service to answer; None
        when it is not used (not wanted, or it could not be reached: the driver then tracks in-process)."""
        self.start()
        if self._thread is not None:
            self._thread.join()
        return self._backend

    @property
    def for_runs(self) -> bool:
        """What this machine's runs are told (`SweepJob.tracking_service`): True, the service as a single
        run uses it (the driver reached it); False, in-process at once (the driver could not)."""
        return self.backend() is not None

    def close(self) -> None:
        """Close the driver's connection (the service stays for its idle time: the next run or sweep
        finds it)."""
        with self._lock:
            self._closed = True
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
