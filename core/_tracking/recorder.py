"""One run's tracking: journal every call, buffer, and send in batches.

The runner owns a `RunRecorder`; plugins see it only through `TrackingHandle`.
Each call is checked, journaled (write-ahead, in the run folder) and buffered.
Buffered records go out with `log_batch` (MLflow's limits: 1,000 metrics,
100 params, 100 tags a call) when the buffer is full, every `flush_interval`
seconds, before any artifact, and when the run ends. A backend that fails is
retried later with growing pauses; what was never acknowledged stays pending in
the journal for `core sync`, and the run carries on.

Who sends: a backend in another process (the tracking service: `sends_in_background`) is sent to
by the recorder's own thread, so the plugin never waits for a batch's answer, only for what it
asked to wait for (`flush`, an artifact, which is sent after everything before it) and, when it
runs far ahead, for the backlog to shrink (`max_ahead`). Any other backend is sent to in the
plugin's thread, as it would compete with the plugin for the interpreter anyway. Either way one
thread sends at a time, in journal order, and the watermark advances only on the backend's answer;
the run's end sends everything left, in the runner's thread, before `end` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from core._errors import InvalidTrackingValue
from core._redact import redact_mapping, scrub
from core._safefiles import inside, regular_file
from core._tracking import values
from core._tracking.backend import Metric, ModelNotLogged, TrackingBackend, folder_files
from core._tracking.journal import Journal
from core.contracts import RunStatus

DEFAULT_FLUSH_INTERVAL_S = 2.0
DEFAULT_BUFFER_LIMIT = values.MAX_METRICS_PER_BATCH
#: unacknowledged records (in `buffer_limit`s) a plugin may run ahead of a background sender before it
#: waits for the backlog to shrink: a plugin faster than the store is slowed, not left to fill memory
DEFAULT_MAX_AHEAD_BATCHES = 10
_FIRST_RETRY_S = 5.0
_MAX_RETRY_S = 120.0


def now_ms() -> int:
    return int(time.time() * 1000)


class RunRecorder:
    """Journaled, batched tracking for one run. Thread-safe; a daemon thread flushes on time (and, for a
    backend in another process, sends)."""

    def __init__(
        self,
        backend: TrackingBackend | None,
        journal: Journal,
        *,
        logger: logging.Logger | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL_S,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        max_ahead: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend  # None: offline, everything stays in the journal
        self.journal = journal
        self.logger = logger or logging.getLogger("mlcore.tracking")
        self.flush_interval = flush_interval
        self.buffer_limit = buffer_limit
        self.max_ahead = max_ahead if max_ahead is not None else DEFAULT_MAX_AHEAD_BATCHES * buffer_limit
        self._clock = clock
        # `_lock` guards the buffer and the sending state; `_changed` (on it) wakes the sender thread and
        # whoever waits for it. `_sending` is held by the one thread sending, never while waiting for
        # `_lock` is held by the same thread: take `_sending` first, or `_lock` alone.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._sending = threading.Lock()
        #: journaled records not yet acknowledged, in journal order (the front may be in flight)
        self._buffer: list[dict[str, Any]] = []
        self._params: dict[str, str] = {}
        self._metric_keys: set[str] = set()
        self._final: dict[str, tuple[int, float]] = {}
        self._last_flush = clock()
        self._retry_at: float | None = None
        self._retry_pause = _FIRST_RETRY_S
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: drains asked of the sender thread, and the last one it finished (each a ticket)
        self._asked = 0
        self._answered = 0
        self._tags: dict[str, str] = {}
        self._artifact_paths: set[str] = set()
        self._started = False

    # -- lifecycle (runner only) --------------------------------------------------
    @property
    def backend_run_id(self) -> str | None:
        return self.journal.state.get("backend_run_id")

    def start(self, *, experiment: str, run_name: str, tags: Mapping[str, str], start_time_ms: int) -> None:
        """Journal the run's start, then send it (once a backend is attached, see `attach`)."""
        tags = redact_mapping(tags)
        clean = {values.check_key("tag", k): values.tag_value(k, v) for k, v in tags.items()}
        record = self.journal.append(
            "start", experiment=experiment, run_name=run_name, tags=clean, time=start_time_ms
        )
        self._started = True
        self._tags.update(clean)
        self.journal.update_state(backend=self.backend.name if self.backend else "offline")
        with self._lock:
            self._buffer.append(record)
        self._send_now()
        if self.flush_interval > 0:
            self._thread = threading.Thread(target=self._sender_loop, name="mlcore-tracking-sender", daemon=True)
            self._thread.start()

    def attach(self, backend: TrackingBackend | None) -> None:
        """Send to `backend` from now on (None: offline). The runner journals the start first and
        opens the backend after, so a run killed while a slow store opens still has its start.
        The start is sent here, in this thread: the plugin begins with its run made in tracking."""
        with self._lock:
            self.backend = backend
            self.journal.update_state(backend=backend.name if backend else "offline")
        self._send_now()

    def decide(self, status: RunStatus, end_time_ms: int, error: tuple[str, str] | None = None, *,
               outputs: Mapping[str, Any] | None = None) -> None:
        """Journal how the run ended (`outcome`, with the error's type and message and the plugin's
        outputs, already JSON-safe) before the runner writes its final summary: if the process dies
        after this, `core sync` and `core runs repair` end it with this status and these outputs,
        not as a process that died."""
        if not self._started:
            return
        fields: dict[str, Any] = {"status": status.value, "time": end_time_ms}
        if error is not None:
            fields["error_type"], fields["error"] = error
        if outputs:
            fields["outputs"] = dict(outputs)
        with self._lock:
            self._buffer.append(self.journal.append("outcome", **fields))

    def end(self, status: RunStatus, end_time_ms: int, *, register: Mapping[str, Any] | None = None) -> None:
        """Flush everything, then mark the run ended. Never raises for backend trouble.
        A run whose start was never journaled has nothing to end.

        Everything still unacknowledged is sent here, in the caller's thread, once the sender thread
        has stopped (after the batch it may be sending): bounded by the backend's own timeouts, and
        what cannot be sent stays pending in the journal.

        `register`: the fields of a `register` record (`core._models.registration`), journaled right
        after the end and sent after it: a registry that fails leaves the run ended in tracking, and
        only the registration pending for `core sync`."""
        with self._lock:
            self._stop.set()
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)  # (still sending: `_send_now` below waits for that batch)
        if self._started:
            try:
                record: dict[str, Any] | None = self.journal.append("end", status=status.value, time=end_time_ms)
            except OSError as exc:  # a full disk: the end is not journaled, but tracking must hear it
                self.logger.warning("could not journal the end of the run (%s): ending it in tracking directly", exc)
                record = None
            with self._lock:
                if record is not None:
                    self._buffer.append(record)
                    if register is not None:
                        try:
                            self._buffer.append(self.journal.append("register", **register))
                        except OSError as exc:
                            self.logger.warning("could not journal the model's registration (%s): not registered",
                                                exc)
                self._retry_at = None  # one last try, whatever the pause
            self._send_now()
            if record is None:
                self._end_directly(status, end_time_ms)
        self.journal.close()

    def _end_directly(self, status: RunStatus, end_time_ms: int) -> None:
        run_id = self.backend_run_id
        with self._lock:
            unsent = bool(self._buffer)
        if self.backend is None or run_id is None or unsent:
            return  # not reached, or calls still unsent: `core runs repair` ends it from the journal
        try:
            self.backend.end_run(run_id, status, end_time_ms)
        except Exception as exc:  # noqa: BLE001 - any backend failure: reported like the others
            with self._lock:
                self._note_failure(exc)

    # -- logging (through TrackingHandle) ----------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        params = redact_mapping(params)
        clean: dict[str, str] = {}
        for key, value in params.items():
            values.check_key("param", key)
            text = values.param_value(key, value)
            old = self._params.get(key, clean.get(key))
            if old is not None and old != text:
                raise InvalidTrackingValue(
                    f"param '{key}' was logged as {old!r} and cannot change to {text!r} "
                    "(MLflow keeps params immutable; log a metric or a new param name instead)"
                )
            clean[key] = text
        new = {k: v for k, v in clean.items() if self._params.get(k) != v}
        if not new:
            return
        with self._lock:
            self._params.update(new)
            for chunk in _chunks(new):
                self._buffer.append(self.journal.append("params", params=chunk))
        self._maybe_flush()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        ts = now_ms()
        checked = []
        for key, value in metrics.items():
            # A name is checked once: a run logs the same few names many times.
            if not isinstance(key, str) or key not in self._metric_keys:
                self._metric_keys.add(values.check_key("metric", key))
            checked.append((key, values.metric_value(key, value), values.step_value(key, step)))
        with self._lock:
            for key, value, step_ in checked:
                self._buffer.append(self.journal.append("metric", key=key, value=value, step=step_, ts=ts))
                last = self._final.get(key)
                if last is None or step_ >= last[0]:
                    self._final[key] = (step_, value)
        self._maybe_flush()

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        tags = redact_mapping(tags)
        clean = {values.check_key("tag", k): values.tag_value(k, v) for k, v in tags.items()}
        if not clean:
            return
        with self._lock:
            self._tags.update(clean)
            for chunk in _chunks(clean):
                self._buffer.append(self.journal.append("tags", tags=chunk))
        self._maybe_flush()

    def log_artifact(self, local_path: Path, artifact_path: str | None = None, *, is_dir: bool = False) -> None:
        local_path = Path(local_path)
        if not (local_path.is_dir() if is_dir else local_path.is_file()):
            kind = "folder" if is_dir else "file"
            raise InvalidTrackingValue(f"cannot log artifact: {kind} '{local_path}' does not exist")
        if artifact_path is not None:
            values.check_key("artifact_path", artifact_path.strip("/") or "x")
        with self._lock:
            self._artifact_paths.add((artifact_path or "").strip("/"))
            self._buffer.append(
                self.journal.append(
                    "artifact", path=str(local_path.resolve()), artifact_path=artifact_path, dir=is_dir
                )
            )
        # Artifacts are sent at once, after everything logged before them, and the call returns when
        # they were: the plugin may change or remove the file afterwards.
        self._drain()

    def flush(self) -> None:
        """Send everything logged so far; returns once it was (or the backend failed)."""
        self._drain()

    # -- what the summary reports -------------------------------------------------
    @property
    def final_metrics(self) -> dict[str, float]:
        return {k: v for k, (_, v) in sorted(self._final.items())}

    @property
    def params(self) -> dict[str, str]:
        return dict(self._params)

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._tags)

    @property
    def artifact_paths(self) -> set[str]:
        """The artifact paths this run logged to (`model` for an MLflow Model)."""
        return set(self._artifact_paths)

    @property
    def pending(self) -> int:
        """Journal records the backend has not acknowledged."""
        return self.journal.last_seq - self.journal.sent_seq

    # -- sending ------------------------------------------------------------------
    def _in_background(self) -> bool:
        """Whether the sender thread sends (a backend in another process, and the thread running)."""
        return bool(getattr(self.backend, "sends_in_background", False) and self._thread is not None
                    and self._thread.is_alive())

    def _paused(self) -> bool:
        """Waiting to retry a backend that failed."""
        return self._retry_at is not None and self._clock() < self._retry_at

    def _maybe_flush(self) -> None:
        """After a call was journaled: send a full batch, or what waited `flush_interval`. In the
        background, only the sender is woken, unless the plugin is `max_ahead` records ahead of it."""
        full = len(self._buffer) >= self.buffer_limit
        if self._in_background():
            if full:
                with self._lock:
                    self._changed.notify_all()
                    while (len(self._buffer) >= self.max_ahead and not self._paused() and not self._stop.is_set()
                           and self._in_background()):
                        self._changed.wait(1.0)
            return
        if full or self._clock() - self._last_flush >= self.flush_interval:
            self._send_now()

    def _drain(self) -> None:
        """Send everything journaled so far and return once it was sent (or could not be): by the
        sender thread in the background, else here."""
        if self._in_background():
            with self._lock:
                self._asked += 1
                ticket = self._asked
                self._changed.notify_all()
                while self._answered < ticket and self._in_background() and not self._stop.is_set():
                    self._changed.wait(1.0)
                if self._answered >= ticket:
                    return
        self._send_now()  # no sender thread (or it stopped): this thread sends

    def _sender_loop(self) -> None:
        """The recorder's thread: flushes on time; in the background it also sends full batches as they
        fill, and what `_drain` asks for. It stops at the run's end, which sends the rest itself."""
        while True:
            with self._lock:
                ticket, limit = self._next_job()
                if ticket is None and limit is None:
                    return
            self._send_now(limit=limit or None)
            with self._lock:
                if ticket:
                    self._answered = max(self._answered, ticket)
                self._changed.notify_all()  # drains answered, and plugins waiting for the backlog to shrink

    def _next_job(self) -> tuple[int | None, int | None]:
        """Under the lock, wait for work: (the drain ticket answered by sending everything, 0 for a flush on
        time), or (None, a full batch's size), or (None, None) when the thread is to stop."""
        while not self._stop.is_set():
            background = getattr(self.backend, "sends_in_background", False)
            if background and self._asked > self._answered:
                return self._asked, 0  # (in a retry pause `_send_now` sends nothing: the drain is answered)
            if background and len(self._buffer) >= self.buffer_limit and not self._paused():
                return None, self.buffer_limit
            due = self._last_flush + self.flush_interval - self._clock()
            if self._buffer and due <= 0:
                return 0, 0
            self._changed.wait(min(max(due, 0.01), self.flush_interval) if self._buffer else self.flush_interval)
        return None, None

    def _send_now(self, limit: int | None = None) -> None:
        """Send the buffer's first `limit` records (all by default), in this thread. `_lock` is held only
        to take them and to drop what the backend acknowledged, so calls go on being journaled meanwhile."""
        with self._sending:
            with self._lock:
                self._last_flush = self._clock()
                if not self._buffer or self.backend is None or self._paused():
                    return
                backend, records = self.backend, self._buffer[:limit]
            try:
                sent = send_records(backend, self.journal, records)
            except Exception as exc:  # noqa: BLE001 - any backend failure: keep the records, carry on
                failure: Exception | None = exc
                sent = getattr(exc, "sent", 0)
            else:
                failure = None
            with self._lock:
                if failure is not None:
                    self._note_failure(failure)
                else:
                    self._retry_at = None
                    self._retry_pause = _FIRST_RETRY_S
                del self._buffer[:sent]

    def _note_failure(self, exc: BaseException) -> None:
        cause = exc.__cause__ or exc
        message = scrub(" ".join(f"{type(cause).__name__}: {cause}".split()))[:300]
        if self.last_error is None:
            self.logger.warning(
                "tracking backend %s failed (%s); calls are kept in %s and the run goes on "
                "(send them later with: core sync %s)",
                self.backend.uri if self.backend else "-",
                message,
                self.journal.path,
                self.journal.dir.parent.name,
            )
        self.last_error = message
        self._retry_at = self._clock() + self._retry_pause
        self._retry_pause = min(self._retry_pause * 2, _MAX_RETRY_S)


def _chunks(mapping: dict[str, str], size: int = values.MAX_PARAMS_TAGS_PER_BATCH) -> Iterator[dict[str, str]]:
    """Split so that no journal record is larger than one `log_batch` may carry."""
    items = list(mapping.items())
    for i in range(0, len(items), size):
        yield dict(items[i : i + size])


class SendError(Exception):
    """Sending stopped part-way; `sent` records at the front were acknowledged."""

    def __init__(self, sent: int) -> None:
        super().__init__(f"sending stopped after {sent} records")
        self.sent = sent


def send_records(backend: TrackingBackend, journal: Journal, records: list[dict[str, Any]]) -> int:
    """Send journal records in order, batching what can be batched; advance the watermark.

    Returns how many were sent. On failure raises `SendError` (with `sent`
    set and the backend's exception as its cause), so a caller can drop the
    acknowledged front of its queue and keep the rest. Shared by live runs and
    `core sync`.
    """
    sent = 0
    i = 0
    try:
        while i < len(records):
            record = records[i]
            op = record["op"]
            run_id = journal.state.get("backend_run_id")
            if op == "start":
                if run_id is None:
                    run_id = backend.start_run(
                        experiment=record["experiment"],
                        run_name=record["run_name"],
                        tags=record["tags"],
                        start_time_ms=record["time"],
                    )
                journal.mark_sent(record["seq"], backend_run_id=run_id)
                i += 1
            elif run_id is None and op == "end" and not journal.started:
                # An end with no start before it (journaled by an older `core runs repair`): the run
                # never reached tracking, so there is nothing to end.
                journal.mark_sent(record["seq"])
                i += 1
            elif run_id is None:
                raise RuntimeError("the run was never created in the tracking backend")
            elif op in ("metric", "params", "tags"):
                j, metrics, params, tags = _collect_batch(records, i)
                backend.log_batch(run_id, metrics=metrics, params=params, tags=tags)
                journal.mark_sent(records[j - 1]["seq"])
                i = j
            elif op == "artifact":
                # Checked again now, file by file, against the run folder: what a link leads to outside
                # it, or what is no longer a regular file, is never copied (`core._safefiles`).
                run_dir = journal.dir.parent
                path = _in_this_run_folder(Path(record["path"]), run_dir)
                if record.get("dir"):
                    for file, rel_path in folder_files(path, run_dir, record.get("artifact_path")):
                        backend.log_artifact(run_id, file, rel_path)
                elif regular_file(path, run_dir) is not None:
                    backend.log_artifact(run_id, path, record.get("artifact_path"))
                journal.mark_sent(record["seq"])
                i += 1
            elif op == "end":
                backend.end_run(run_id, RunStatus(record["status"]), record["time"])
                journal.mark_sent(record["seq"])
                i += 1
            elif op == "register":
                journal.mark_sent(record["seq"], registered=_register(backend, run_id, record, journal))
                i += 1
            else:  # `outcome` (not a call: the end sends it), or a newer op this version cannot send
                journal.mark_sent(record["seq"])
                i += 1
            sent = i
    except Exception as exc:
        raise SendError(sent) from exc
    return sent


def _register(backend: TrackingBackend, run_id: str, record: dict[str, Any], journal: Journal) -> dict[str, Any]:
    """Send a `register` record; what came of it, for the journal's state and the summary. A model the
    run never logged is a result too (`error`), not a failure to retry; anything else is raised and the
    record stays pending (a resend finds the version a lost answer made: `register_model`)."""
    asked = {"name": record["name"], "alias": record.get("alias")}
    try:
        done = backend.register_model(run_id, artifact_path=record.get("artifact_path") or "model",
                                      name=record["name"], alias=record.get("alias"),
                                      tags=record.get("tags") or {},
                                      core_run_id=record.get("run_id") or journal.dir.parent.name)
    except ModelNotLogged as exc:
        return asked | {"version": None, "error": str(exc)}
    return asked | {"version": done.version, "error": None}


def _in_this_run_folder(path: Path, run_dir: Path) -> Path:
    """A journaled artifact path, in the folder the run lives in now: a run folder copied or moved
    elsewhere (another artifact root) sends its own files, not the original location's."""
    if inside(path, run_dir):
        return path
    parts = path.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == run_dir.name and parts[i - 1] == run_dir.parent.name:
            return run_dir.joinpath(*parts[i + 1 :])
    return path


def _collect_batch(records: list[dict[str, Any]], start: int) -> tuple[int, list[Metric], dict[str, str], dict[str, str]]:
    metrics: list[Metric] = []
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    j = start
    while j < len(records):
        record = records[j]
        op = record["op"]
        if op == "metric":
            if len(metrics) >= values.MAX_METRICS_PER_BATCH:
                break
            item = Metric(record["key"], float(record["value"]), int(record["step"]), int(record["ts"]))
            metrics.append(item)
        elif op == "params":
            if len(params) + len(record["params"]) > values.MAX_PARAMS_TAGS_PER_BATCH and params:
                break
            params.update(record["params"])
        elif op == "tags":
            if len(tags) + len(record["tags"]) > values.MAX_PARAMS_TAGS_PER_BATCH and tags:
                break
            tags.update(record["tags"])
        else:
            break
        j += 1
        if len(metrics) + len(params) + len(tags) >= values.MAX_ENTITIES_PER_BATCH:
            break
    return j, metrics, params, tags
