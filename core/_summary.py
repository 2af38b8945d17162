"""The run record core leaves in every run folder, whatever happened: `RunSummary`, written as
`summary/run_summary.json`, and the error file.

One typed record, written by the runner (and by `repair` and `sync` when they end or update
a run) and read back by everything that looks at runs. `to_json`/`from_json` are the only
places that know the JSON's field names; `SUMMARY_VERSION` says which shape a file has.
"""

from __future__ import annotations

import json
import os
import re
import stat
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core._files import NON_FINITE, atomic_write_json, atomic_write_text, json_safe
from core._layout import EXCEPTION_PATH, RunLayout
from core._redact import changed_fields, redact, scrub
from core.contracts import RunStatus

SUMMARY_VERSION = 1
#: at most this many of `spec_redacted`'s names are written, then how many more there were
MAX_REDACTED_NAMES = 20
#: what a summary records of one field (the spec, the outputs, the environment) at most: a plugin's
#: outputs are meant to be small, and the record must stay readable whatever they hold
MAX_FIELD_BYTES = 1024 * 1024
MAX_SUMMARY_BYTES = 64 * 1024 * 1024
_NON_FINITE_TEXT = frozenset(NON_FINITE.values())


class CorruptSummary(ValueError):
    """A summary file that is not a run summary (torn, hand-edited, wrong types)."""


@dataclass(frozen=True, slots=True)
class PluginRef:
    """Which plugin ran: its key, version and extra."""

    key: str
    version: str | None = None
    extra: str | None = None


@dataclass(frozen=True, slots=True)
class TrackingInfo:
    """Where the run tracks to and how far it got: `pending` calls are in the journal, unsent."""

    backend: str | None = None
    uri: str | None = None
    experiment: str | None = None
    run_id: str | None = None
    pending: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    """The run's model in MLflow's Model Registry (`register:`): `version` once registered (and `alias`
    moved to it); `error` when it could not be (the run logged no model); neither while it is pending
    (tracking down or offline: `core sync` sends it)."""

    name: str
    version: str | None = None
    alias: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, result: Mapping[str, Any] | None) -> RegistrationInfo | None:
        """From a journaled result (`{"name", "version", "alias", "error"}`)."""
        if not result or not isinstance(result.get("name"), str):
            return None
        text = {k: (str(result[k]) if result.get(k) is not None else None) for k in ("version", "alias", "error")}
        return cls(name=result["name"], **text)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a run did not finish; `traceback` is the error file's path inside the run folder."""

    type: str
    message: str | None = None
    traceback: str | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What `summary/run_summary.json` says about one run."""

    run_id: str
    status: RunStatus
    plugin: PluginRef
    spec: Mapping[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    pid: int | None = None
    host: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    tracking: TrackingInfo = field(default_factory=TrackingInfo)
    environment: Mapping[str, Any] | None = None
    error: ErrorInfo | None = None
    #: the model registered from this run (absent in summaries of runs that asked for none, and older ones)
    registered: RegistrationInfo | None = None
    summary_version: int = SUMMARY_VERSION
    #: dotted spec fields whose recorded value is not the one the run had (a secret-looking key hidden, a
    #: URI's credentials removed): `core rerun` and `core runs spec` name them; kept when rewritten
    spec_redacted: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "")

    def replace(self, **changes: Any) -> RunSummary:
        """A copy with `changes` (the record is immutable)."""
        return replace(self, **changes)

    # -- JSON ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form, in the order people read it: JSON-safe (`jsonable`) and with credentials
        redacted (`core._redact.redact`; metrics are numbers and the environment's keys package names)."""
        spec = jsonable(self.spec)
        recorded = redact(spec)
        hidden = _capped_names((*self.spec_redacted, *changed_fields(spec, recorded)))
        return {
            "summary_version": self.summary_version,
            "run_id": self.run_id,
            "status": self.status.value,
            "plugin": _as_dict(self.plugin),
            "spec": recorded,
            **({"spec_redacted": hidden} if hidden else {}),  # absent when nothing was: as summaries before
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": self.duration_s,
            "pid": self.pid,
            "host": self.host,
            "outputs": redact(jsonable(self.outputs)),
            "metrics": json_safe(self.metrics),
            "params": redact(jsonable(self.params)),
            "tags": redact(jsonable(self.tags)),
            "tracking": redact(_as_dict(self.tracking)),
            "environment": redact(jsonable(self.environment), keys=False),  # package names are not keys
            "error": redact(_as_dict(self.error)) if self.error else None,
            "registered": _as_dict(self.registered) if self.registered else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunSummary:
        """Parse what `to_json` wrote; `CorruptSummary` names the first field that is wrong."""
        if not isinstance(data, Mapping):
            raise CorruptSummary(f"not a JSON object but {type(data).__name__}")
        try:
            status = RunStatus(data.get("status"))
        except ValueError:
            raise CorruptSummary(f"field 'status': {data.get('status')!r} is not a run status") from None
        error = _mapping(data, "error", optional=True)
        registered = _mapping(data, "registered", optional=True)
        return cls(
            run_id=_typed(data, "run_id", str),
            status=status,
            plugin=_record(PluginRef, _mapping(data, "plugin"), "plugin"),
            spec=_mapping(data, "spec"),
            started_at=_time(data, "started_at"),
            ended_at=_time(data, "ended_at"),
            duration_s=_typed(data, "duration_s", (int, float), optional=True),
            pid=_typed(data, "pid", int, optional=True),
            host=_typed(data, "host", str, optional=True),
            outputs=_mapping(data, "outputs"),
            metrics=_numbers(data, "metrics"),
            params=_texts(data, "params"),
            tags=_texts(data, "tags"),
            tracking=_record(TrackingInfo, _mapping(data, "tracking"), "tracking"),
            environment=_mapping(data, "environment", optional=True),
            error=_record(ErrorInfo, error, "error") if error is not None else None,
            registered=_record(RegistrationInfo, registered, "registered") if registered is not None else None,
            summary_version=_typed(data, "summary_version", int, optional=True) or SUMMARY_VERSION,
            spec_redacted=_names(data, "spec_redacted"),
        )

    # -- the file ------------------------------------------------------------------
    def write(self, run_dir: Path) -> Path:
        """Write atomically to the run folder's summary path; returns it."""
        path = RunLayout(run_dir).summary
        atomic_write_json(path, self.to_json())
        return path

    @classmethod
    def read(cls, run_dir: Path) -> RunSummary:
        """Read a run folder's summary. `OSError` if there is none; `CorruptSummary` if it is not one (also
        when it is not a regular file: a FIFO put there is never read, so no reader blocks on it)."""
        fd = os.open(RunLayout(run_dir).summary, os.O_RDONLY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise CorruptSummary("not a regular file")
            if info.st_size > MAX_SUMMARY_BYTES:
                raise CorruptSummary(f"{info.st_size} bytes, more than a summary ever holds")
            with os.fdopen(os.dup(fd), "rb") as fh:
                text = fh.read(MAX_SUMMARY_BYTES + 1).decode("utf-8", errors="replace")
        finally:
            os.close(fd)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptSummary(f"not JSON ({exc.msg}, line {exc.lineno})") from None
        except RecursionError:
            raise CorruptSummary("nested too deeply to be a summary") from None
        return cls.from_json(data)


def _as_dict(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorruptSummary(f"field '{key}': {value!r} is not of the expected type")
    return value


def _mapping(data: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        return None if optional else {}
    if not isinstance(value, Mapping):
        raise CorruptSummary(f"field '{key}': a {type(value).__name__}, not an object")
    return dict(value)


def _record(cls: type, data: Mapping[str, Any], key: str) -> Any:
    """One of the small records (`PluginRef`, `TrackingInfo`, `ErrorInfo`), each field of its declared type."""
    kinds = {"str": (str,), "int": (int,), "str | None": (str, type(None)), "int | None": (int, type(None))}
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if not isinstance(value, kinds.get(str(f.type), (object,))) or isinstance(value, bool):
            raise CorruptSummary(f"field '{key}.{f.name}': {value!r} is not of the expected type")
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise CorruptSummary(f"field '{key}': {exc}") from None


def _numbers(data: Mapping[str, Any], key: str) -> dict[str, float]:
    """A mapping of names to numbers (NaN and the infinities as the JSON rule wrote them)."""
    out = {}
    for name, value in _mapping(data, key).items():
        value = _number(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CorruptSummary(f"field '{key}.{name}': {value!r} is not a number")
        out[name] = value
    return out


def _texts(data: Mapping[str, Any], key: str) -> dict[str, str]:
    """A mapping of names to strings (params and tags are recorded as MLflow keeps them)."""
    out = _mapping(data, key)
    for name, value in out.items():
        if not isinstance(value, str):
            raise CorruptSummary(f"field '{key}.{name}': {value!r} is not a string")
    return out


def _capped_names(names: Iterable[str]) -> list[str]:
    """`names` once each, at most `MAX_REDACTED_NAMES` of them, then "(and N more)": a list of a thousand
    URIs says enough in its first names. The count a summary read back carries is kept on rewrites."""
    more, kept = 0, []
    for name in names:
        counted = _MORE.fullmatch(name)
        if counted:
            more += int(counted.group(1))
        else:
            kept.append(name)
    kept = list(dict.fromkeys(kept))
    more += max(0, len(kept) - MAX_REDACTED_NAMES)
    return kept[:MAX_REDACTED_NAMES] + ([f"(and {more} more)"] if more else [])


_MORE = re.compile(r"\(and (\d+) more\)")


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """An optional list of strings (absent: none). Advisory: what is not a string is left out rather
    than the whole record refused."""
    value = data.get(key)
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    parsed = parse_iso(value)
    if parsed is None:
        raise CorruptSummary(f"field '{key}': {value!r} is not an ISO date and time")
    return parsed


def iso(ts: datetime | None) -> str | None:
    """UTC time as `2026-11-26T15:30:12.123Z` (None stays None)."""
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") if ts else None


def parse_iso(text: Any) -> datetime | None:
    """The inverse of `iso`, lenient: a naive time is taken as UTC; anything else gives None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def write_exception(run_dir: Path, exc: BaseException) -> Path:
    """The failure's full traceback, credentials scrubbed, as `errors/exception.txt`."""
    path = run_dir / EXCEPTION_PATH
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    atomic_write_text(path, scrub(text))  # whole or absent, like every file core writes in a run folder
    return path


def jsonable(value: Any) -> Any:
    """Outputs may hold numpy scalars, paths, sets, NaN, themselves or objects that cannot be printed:
    core's one JSON rule (`core._files.json_safe`), each field capped at `MAX_FIELD_BYTES`."""
    return json_safe(value, max_bytes=MAX_FIELD_BYTES)


def _number(value: Any) -> Any:
    """A metric as read back: the strings the JSON rule wrote for NaN and the infinities are numbers again."""
    return float(value) if isinstance(value, str) and value in _NON_FINITE_TEXT else value
