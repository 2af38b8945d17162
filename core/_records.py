"""Reading run folders back: what `core runs`, the HTML report and `core rerun` look at.

Everything comes from the folder itself (the summary, the tracking journal, the files),
so it is fast, works offline and needs no tracking server. A run whose summary still
says RUNNING is checked against its process: if that process is gone (or its pid now
belongs to a younger process), the run is shown as DEAD, never silently as running.
"""

from __future__ import annotations

import enum
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from core._errors import BadInput, RunFileNotFound
from core._layout import RunLayout, runs_dir, sweeps_dir
from core._safefiles import inside, read_regular, regular_file, regular_files
from core._summary import CorruptSummary, RunSummary, parse_iso
from core.contracts import RunStatus

_LOWER_IS_BETTER = re.compile(r"(loss|error|rmse|mae|mse|perplexity)(_|$)")
MAX_ERROR_FILE_BYTES = 16 * 1024 * 1024
#: a run folder with no summary at all this long after its last change, whose lock no process
#: holds, was left by a process killed in its first milliseconds: DEAD, and repairable
ABANDONED_AFTER_S = 5.0


class RecordStatus(enum.Enum):
    """What a run record shows: how the run ended (`RunStatus`), or what can be told without
    that: DEAD (recorded RUNNING, its process is gone), NOT RUN (a sweep's run that never
    started), UNKNOWN (no readable summary)."""

    RUNNING = RunStatus.RUNNING.value
    FINISHED = RunStatus.FINISHED.value
    FAILED = RunStatus.FAILED.value
    KILLED = RunStatus.KILLED.value
    PRUNED = RunStatus.PRUNED.value
    DEAD = "DEAD"
    NOT_RUN = "NOT RUN"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def of(cls, status: RunStatus) -> RecordStatus:
        return cls(status.value)

    def __str__(self) -> str:
        return self.value


def lower_is_better(metric: str) -> bool:
    """Loss-like metrics improve downwards; everything else (accuracy, f1, r2, auc) upwards."""
    return bool(_LOWER_IS_BETTER.search(metric.split("_", 1)[-1] if "_" in metric else metric))


@dataclass
class RunRecord:
    """One run folder read back: its summary (None when missing or unreadable, with `problem`
    saying why), with the journal as the fallback for what the summary lacks."""

    run_dir: Path
    summary: RunSummary | None
    problem: str | None = None
    #: the folder holds a summary that cannot be read or is not one (not merely none yet)
    damaged: bool = False

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    @property
    def run_id(self) -> str:
        return self.summary.run_id if self.summary else self.run_dir.name

    @property
    def status(self) -> RecordStatus:
        """As recorded: RUNNING, FINISHED, FAILED, KILLED, PRUNED (or UNKNOWN without a summary)."""
        return RecordStatus.of(self.summary.status) if self.summary else RecordStatus.UNKNOWN

    @property
    def plugin(self) -> str:
        return self.summary.plugin.key if self.summary else "?"

    @property
    def name(self) -> str:
        return self.summary.name if self.summary else ""

    @property
    def started(self) -> datetime | None:
        return self.summary.started_at if self.summary else None

    @property
    def duration_s(self) -> float | None:
        if self.summary and self.summary.duration_s is not None:
            return float(self.summary.duration_s)
        if self.status is RecordStatus.RUNNING and self.alive and self.started:
            return (datetime.now(timezone.utc) - self.started).total_seconds()
        return None

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.summary.metrics if self.summary and self.summary.metrics else self.journal_final_metrics)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.summary.params if self.summary and self.summary.params else self._journal_view["params"])

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.summary.tags if self.summary and self.summary.tags else self._journal_view["tags"])

    @property
    def spec_tags(self) -> dict[str, Any]:
        """The tags the run's spec asked for (a sweep's runs carry their sweep id and index here)."""
        tags = self.summary.spec.get("tags") if self.summary else None
        return dict(tags) if isinstance(tags, dict) else {}

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.summary.environment or {}) if self.summary else {}

    @property
    def error(self) -> str | None:
        return self.summary.error.message if self.summary and self.summary.error else None

    @cached_property
    def alive(self) -> bool | None:
        """For a RUNNING run: is its process still there? None when it ran on another host."""
        if self.summary is None or self.status is not RecordStatus.RUNNING:
            return None
        return process_alive(self.summary.pid, self.summary.host, self.started)

    @property
    def display_status(self) -> RecordStatus:
        if self.status is RecordStatus.RUNNING and self.alive is False:
            return RecordStatus.DEAD
        if self.summary is None and abandoned(self.run_dir):
            return RecordStatus.DEAD
        return self.status

    def headline(self, n: int = 3) -> dict[str, float]:
        """The metrics people look at first: those the plugin returned as outputs (what `core run`
        prints), else test_*, then score_*, then val_*, then any."""
        metrics = self.metrics
        outputs = self.summary.outputs if self.summary else {}
        returned = {k: metrics[k] for k in outputs if k in metrics}
        if returned:
            return dict(list(returned.items())[:n])
        for prefix in ("test_", "score_", "val_", ""):
            chosen = {k: v for k, v in sorted(metrics.items()) if k.startswith(prefix)}
            if chosen:
                return dict(list(chosen.items())[:n])
        return {}

    # -- the journal: every tracking call, in order ---------------------------------
    def journal_records(self) -> Iterator[dict[str, Any]]:
        # Imported here: the tracking package opens stores (sqlite3), which `core runs list` never needs.
        from core._tracking.journal import read_records

        path = self.layout.journal
        if os.path.lexists(path) and regular_file(path, self.run_dir) is None:
            return iter(())  # a FIFO (or a link out) where the journal belongs is never opened
        return read_records(path, skip_corrupt=True)

    def histories(self) -> dict[str, list[tuple[int, float]]]:
        """Every metric's (step, value) points, as logged."""
        return self._journal_view["histories"]

    @property
    def journal_final_metrics(self) -> dict[str, float]:
        return {k: max(points, key=lambda p: p[0])[1] for k, points in self.histories().items() if points}

    @cached_property
    def _journal_view(self) -> dict[str, Any]:
        histories: dict[str, list[tuple[int, float]]] = {}
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        try:
            for record in self.journal_records():
                try:
                    op = record.get("op")
                    if op == "metric":
                        point = (int(record["step"]), float(record["value"]))
                        histories.setdefault(str(record["key"]), []).append(point)
                    elif op == "params":
                        params.update({str(k): str(v) for k, v in dict(record.get("params", {})).items()})
                    elif op in ("start", "tags"):
                        tags.update({str(k): str(v) for k, v in dict(record.get("tags", {})).items()})
                except (AttributeError, KeyError, TypeError, ValueError):
                    continue  # a record of the wrong shape: shown without it
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a journal that cannot be read (any more): what was read so far
        return {"histories": histories, "params": params, "tags": tags}

    def artifacts(self) -> list[tuple[str, int]]:
        """(path relative to the run folder, size in bytes) of every file but the journal's: regular files,
        and links to regular files inside the run folder (`core._safefiles`); nothing a link leads to outside."""
        files = []
        for path, size in regular_files(self.run_dir, self.run_dir):
            rel = path.relative_to(self.run_dir).as_posix()
            if not rel.startswith("tracking/"):
                files.append((rel, size))
        return files

    def exception_text(self) -> str | None:
        data = read_regular(self.layout.exception, self.run_dir, MAX_ERROR_FILE_BYTES)
        return data.decode("utf-8", errors="replace") if data is not None else None


def abandoned(run_dir: Path) -> bool:
    """A run folder without a summary file whose process is gone: it was killed before writing one
    (only `logs/`, say)."""
    try:
        if RunLayout(run_dir).summary.exists() or time.time() - run_dir.stat().st_mtime < ABANDONED_AFTER_S:
            return False
    except OSError:
        return False
    from core._runlock import held_elsewhere  # filelock: only for this rare folder without a summary

    return not held_elsewhere(run_dir)


#: a run that ran on another node (a sweep on a Ray cluster): the driver keeps only its summary, as
#: `<root>/sweeps/<sweep id>/runs/<run id>/summary.json`; `core runs fetch` brings the rest from tracking
HELD_SUMMARY = "summary.json"


def read_run(run_dir: Path) -> RunRecord:
    """The record of one run folder; a missing, unreadable or corrupt summary gives status UNKNOWN, never an
    error (`damaged` says when that is more than a summary not written yet)."""
    try:
        held = run_dir / HELD_SUMMARY
        if held.is_file() and not RunLayout(run_dir).summary.exists():
            data = read_regular(held, run_dir, 16 * 1024 * 1024)
            if data is None:
                return RunRecord(run_dir, None, "unreadable summary: not a regular file", damaged=True)
            return RunRecord(run_dir, RunSummary.from_json(json.loads(data.decode("utf-8"))))
        return RunRecord(run_dir, RunSummary.read(run_dir))
    except FileNotFoundError:
        return RunRecord(run_dir, None, "no summary")
    except OSError as exc:
        return RunRecord(run_dir, None, f"unreadable summary ({exc.strerror or exc})", damaged=True)
    except (CorruptSummary, ValueError) as exc:
        return RunRecord(run_dir, None, f"unreadable summary: {exc}", damaged=True)


@dataclass(frozen=True, slots=True)
class EarlierRunFiles:
    """What stands behind `context.run_file`: an earlier run's file from its folder in this
    artifact root, else fetched from tracking (`fetch`, the backend's `download_artifact`) into
    the current run's `inputs/<run id>/`."""

    root: Path
    into: RunLayout
    fetch: Callable[[str, str, Path], Path] | None = None

    def __call__(self, run_id: str, relative_path: str) -> Path:
        rel = Path(relative_path)
        if not _plain_name(run_id) or rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise RunFileNotFound(f"'{relative_path}' of run '{run_id}': not a run id and a path inside its folder")
        folder = runs_dir(self.root) / run_id
        if (folder / rel).exists():
            return folder / rel
        if self.fetch is None:
            raise RunFileNotFound(f"no {rel.as_posix()} for run '{run_id}': not in {folder}, and tracking is offline")
        try:
            return Path(self.fetch(run_id, rel.as_posix(), self.into.fetched(run_id)))
        except Exception as exc:  # noqa: BLE001 - any backend failure is reported as one clear line
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise RunFileNotFound(f"no {rel.as_posix()} for run '{run_id}': not in {folder} and not in tracking "
                                  f"({reason})") from None


def _plain_name(run_id: str) -> bool:
    return bool(run_id) and run_id not in (".", "..") and "/" not in run_id and "\\" not in run_id


def find_run(root: Path, run_id: str, *, held: bool = False) -> Path:
    """A run folder by id or unambiguous id prefix (a plain prefix: `*` or `[` are no patterns here);
    `held`: also the summaries a sweep driver keeps of runs that ran on other nodes (`held_runs`)."""
    base = runs_dir(root)
    folders = (run_folders(root) + (held_runs(root) if held else [])) if _plain_name(run_id) else []
    exact = [p for p in folders if p.name == run_id]
    matches = exact or [p for p in folders if p.name.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BadInput(f"no run '{run_id}' in {base}")
    raise BadInput(f"run id prefix '{run_id}' is ambiguous: {', '.join(p.name for p in matches[:5])}")


def run_folders(root: Path) -> list[Path]:
    """The run folders of an artifact root, sorted by run id (so by start time). An entry of `runs/` that is
    a link leading out of it is no run folder (a link to /etc is not listed, shown, synced or repaired),
    nor is anything that is not a folder; entries that cannot even be looked at are left out."""
    base = runs_dir(root)
    try:
        entries = list(base.iterdir())
    except OSError:  # no runs folder yet (or one that cannot be read: nothing to list)
        return []
    found = []
    for path in entries:
        try:
            if path.is_dir() and (not path.is_symlink() or inside(path, base)):
                found.append(path)
        except OSError:
            continue
    return sorted(found)


def held_runs(root: Path) -> list[Path]:
    """The folders in which sweep drivers keep the summaries of runs that ran on other nodes (a Ray
    cluster with no shared disk), for runs with no folder of their own here (`core runs fetch` makes one)."""
    local = {p.name for p in run_folders(root)}
    found = []
    try:
        candidates = list(sweeps_dir(root).glob(f"*/{runs_dir(Path()).name}/*/{HELD_SUMMARY}"))
    except OSError:
        return []
    for summary in candidates:
        folder = summary.parent
        if folder.name not in local and not folder.is_symlink() and inside(folder, sweeps_dir(root)):
            found.append(folder)
    return sorted(found, key=lambda p: p.name)


def list_runs(root: Path) -> list[RunRecord]:
    """Every run folder in the artifact root, and every run a sweep driver holds the summary of, newest
    first (run ids sort by start time)."""
    return list(iter_runs(root))


def iter_runs(root: Path) -> Iterator[RunRecord]:
    """`list_runs` one at a time: each summary is read only when its record is asked for, so a caller
    that wants the newest few (`core runs list --limit`) reads only those, whatever the root holds."""
    folders = sorted(run_folders(root) + held_runs(root), key=lambda p: p.name)
    return (read_run(p) for p in reversed(folders))


def filter_runs(runs: list[RunRecord], *, plugin: str | None = None, status: str | None = None,
                tags: dict[str, str] | None = None, since: datetime | None = None) -> list[RunRecord]:
    out = []
    for run in runs:
        if plugin and run.plugin != plugin:
            continue
        if status and status.upper() not in (run.status.value, run.display_status.value):
            continue
        if tags and any(run.tags.get(k) != v for k, v in tags.items()):
            continue
        if since and (run.started is None or run.started < since):
            continue
        out.append(run)
    return out


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `2h`, `7d`, `2w` ago, or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(timezone.utc)
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        try:
            return now - timedelta(**{unit: int(match.group(1))})
        except OverflowError:
            raise BadInput(f"--since: '{text}' reaches back before the year 1") from None
    parsed = parse_iso(text.strip())
    if parsed is None:
        raise BadInput(f"--since: '{text}' is neither a duration (30m, 2h, 7d, 2w) nor a date (2026-11-26[T15:00])")
    return parsed


def parse_tag_filters(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInput(f"--tag: '{item}' is not KEY=VALUE")
        tags[key] = value
    return tags


def process_alive(pid: Any, host: Any, started: datetime | None) -> bool | None:
    if not isinstance(pid, int) or pid <= 0:
        return False
    import socket  # only for a run recorded RUNNING: `core runs list` of ended runs never needs it

    if host and host != socket.gethostname():
        return None  # another machine's process: nothing here can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _zombie(pid):
        return False  # ended, not yet reaped (a `core run` whose supervising parent was killed)
    born = _process_start(pid)
    if born is not None and started is not None and born > started + timedelta(seconds=5):
        return False  # the pid was reused by a process younger than the run
    return True


def _zombie(pid: int) -> bool:
    """Whether process `pid` has ended and waits to be reaped (Linux /proc); False where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _process_start(pid: int) -> datetime | None:
    """When process `pid` started (Linux /proc); None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), timezone.utc)
    except (OSError, ValueError, IndexError, StopIteration):
        return None
