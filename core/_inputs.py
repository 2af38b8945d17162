"""Checking what a run needs from earlier work before it starts (`Plugin.inputs`).

A score run whose `run_id` names no run is bad input: it is refused with exit 2 before a run
folder exists, like any other spec mistake, rather than becoming a FAILED run. An earlier run's
file counts as there when its folder in this artifact root holds it, or when tracking holds a
run tagged with that core run id (the file itself is fetched, and checked, when the run asks
for it). When tracking cannot be asked (offline, a server that is down), the run goes ahead: it
says clearly what is missing if it really is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from core._errors import ModelNotFound, RunFileNotFound, SpecError
from core._layout import runs_dir
from core._tracking.backend import TrackingBackend
from core._tracking.target import TrackingTarget, public_uri
from core.contracts import RunInput

_LOG = logging.getLogger("core.inputs")

#: checks a `RunInput` with a `model_uri` against tracking (`core._models` provides it); None: unchecked
ModelCheck = Callable[[RunInput, TrackingBackend], None]


def check_inputs(inputs: Sequence[RunInput], *, root: Path, target: TrackingTarget,
                 backend: TrackingBackend | None = None, source: str | None = None,
                 model_check: ModelCheck | None = None) -> None:
    """Raise `RunFileNotFound`/`SpecError` (exit 2) for an input that certainly does not exist.

    `backend`: one the caller holds already (in-process runs on a fake); otherwise one is opened
    only when a file is not on disk, and only for a store that exists."""
    opened: TrackingBackend | None = None
    try:
        for item in inputs:
            if item.run_id is not None:
                if _on_disk(item, root, source):
                    continue
                opened = opened or backend or _open(target)
                _check_tracked_run(item, root, target, opened, source)
            elif item.model_uri is not None and model_check is not None:
                opened = opened or backend or _open(target)
                if opened is not None:
                    model_check(item, opened)
                elif target.is_memory or (target.sqlite_path is not None and not target.sqlite_path.exists()):
                    where = "the memory tracker keeps nothing between processes" if target.is_memory else \
                        f"there is no tracking store at {target.sqlite_path} yet"
                    raise ModelNotFound(f"{_where(source, item)}: no model {item.model_uri}: {where}")
    finally:
        if opened is not None and opened is not backend:
            try:
                opened.close()
            except Exception:  # noqa: BLE001 - only a check: closing it cannot matter to the run
                pass


def _where(source: str | None, item: RunInput) -> str:
    return f"{source}: field '{item.field}'" if source else f"field '{item.field}'"


def _on_disk(item: RunInput, root: Path, source: str | None) -> bool:
    run_id, rel = str(item.run_id), Path(item.path or "")
    if not run_id or run_id in (".", "..") or "/" in run_id or "\\" in run_id:
        raise SpecError(f"'{run_id}' is not a run id", source=source, field=item.field)
    folder = runs_dir(root) / run_id
    if item.path is None:
        return folder.is_dir()
    if rel.is_absolute() or ".." in rel.parts:
        raise SpecError(f"'{item.path}' is not a path inside a run folder", source=source, field=item.field)
    return (folder / rel).exists()  # else tracking may still hold it (`context.run_file` fetches it then)


def _open(target: TrackingTarget) -> TrackingBackend | None:
    """The backend to ask, or None when it cannot be asked now (offline, unreachable)."""
    if target.offline or target.is_memory:
        return None
    if target.sqlite_path is not None and not target.sqlite_path.exists():
        return None  # no store yet: `_check_tracked_run` says no run can be in it
    from core._tracking import open_backend

    try:
        return open_backend(target)
    except Exception as exc:  # noqa: BLE001 - unreachable tracking does not stop a run; it says what is missing
        _LOG.debug("cannot check inputs against %s: %s", public_uri(target.uri), exc)
        return None


def _check_tracked_run(item: RunInput, root: Path, target: TrackingTarget, backend: TrackingBackend | None,
                       source: str | None) -> None:
    folder = runs_dir(root) / str(item.run_id)
    here = f"{folder} has no {item.path}" if folder.is_dir() and item.path else f"no folder {folder}"
    if backend is None:
        if target.is_memory or (target.sqlite_path is not None and not target.sqlite_path.exists()):
            where = "the memory tracker keeps nothing between processes" if target.is_memory else \
                f"there is no tracking store at {target.sqlite_path} yet"
            raise RunFileNotFound(f"{_where(source, item)}: no run '{item.run_id}' to read it from: {here}, "
                                  f"and {where}")
        return  # offline or unreachable: cannot tell; the run reports it if it is missing
    try:
        known = backend.has_run(str(item.run_id))
    except Exception as exc:  # noqa: BLE001 - a backend that fails to answer cannot tell either
        _LOG.debug("cannot check run %s in tracking: %s", item.run_id, exc)
        return
    if known is False:
        raise RunFileNotFound(f"{_where(source, item)}: no run '{item.run_id}' to read it from: {here}, and no "
                              f"run tagged mlcore.run_id={item.run_id} in {public_uri(backend.uri)}")
