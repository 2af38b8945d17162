"""Reading run folders back: what `core runs`, the HTML report and `core rerun` look at.

Everything comes from the folder itself (the summary, the tracking journal, the files),
so it is fast, works offline and needs no tracking server. A run whose summary still
says RUNNING is checked against its process: if that process is gone (or its pid now
belongs to a younger process), the run is shown as DEAD, never silently as running.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from core._errors import BadInput
from core._settings import runs_dir
from core._summary import EXCEPTION_PATH, SUMMARY_PATH
from core._tracking.journal import JOURNAL_DIR, JOURNAL_FILE, read_records

DEAD = "DEAD"
_LOWER_IS_BETTER = re.compile(r"(loss|error|rmse|mae|mse|perplexity)(_|$)")


def lower_is_better(metric: str) -> bool:
    """Loss-like metrics improve downwards; everything else (accuracy, f1, r2, auc) upwards."""
    return bool(_LOWER_IS_BETTER.search(metric.split("_", 1)[-1] if "_" in metric else metric))


@dataclass
class RunRecord:
    run_dir: Path
    summary: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.summary.get("run_id") or self.run_dir.name

    @property
    def status(self) -> str:
        """As recorded: RUNNING, FINISHED, FAILED, KILLED (or UNKNOWN without a summary)."""
        return self.summary.get("status") or "UNKNOWN"

    @property
    def plugin(self) -> str:
        return (self.summary.get("plugin") or {}).get("key") or "?"

    @property
    def name(self) -> str:
        return (self.summary.get("spec") or {}).get("name") or ""

    @property
    def started(self) -> datetime | None:
        return _parse_iso(self.summary.get("started_at"))

    @property
    def duration_s(self) -> float | None:
        if self.summary.get("duration_s") is not None:
            return float(self.summary["duration_s"])
        if self.status == "RUNNING" and self.alive and self.started:
            return (datetime.now(timezone.utc) - self.started).total_seconds()
        return None

    @property
    def metrics(self) -> dict[str, float]:
        return self.summary.get("metrics") or self.journal_final_metrics

    @property
    def params(self) -> dict[str, str]:
        return self.summary.get("params") or self._journal_view["params"]

    @property
    def tags(self) -> dict[str, str]:
        return self.summary.get("tags") or self._journal_view["tags"]

    @property
    def error(self) -> str | None:
        return (self.summary.get("error") or {}).get("message")

    @cached_property
    def alive(self) -> bool | None:
        """For a RUNNING run: is its process still there? None when it ran on another host."""
        if self.status != "RUNNING":
            return None
        return process_alive(self.summary.get("pid"), self.summary.get("host"), self.started)

    @property
    def display_status(self) -> str:
        if self.status == "RUNNING" and self.alive is False:
            return DEAD
        return self.status

    def headline(self, n: int = 3) -> dict[str, float]:
        """The metrics people look at first: test_*, then score_*, then val_*, then any."""
        metrics = self.metrics
        for prefix in ("test_", "score_", "val_", ""):
            chosen = {k: v for k, v in sorted(metrics.items()) if k.startswith(prefix)}
            if chosen:
                return dict(list(chosen.items())[:n])
        return {}

    # -- the journal: every tracking call, in order ---------------------------------
    def journal_records(self) -> Iterator[dict[str, Any]]:
        return read_records(self.run_dir / JOURNAL_DIR / JOURNAL_FILE, skip_corrupt=True)

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
        for record in self.journal_records():
            op = record.get("op")
            if op == "metric":
                histories.setdefault(record["key"], []).append((int(record["step"]), float(record["value"])))
            elif op == "params":
                params.update(record.get("params", {}))
            elif op in ("start", "tags"):
                tags.update(record.get("tags", {}))
        return {"histories": histories, "params": params, "tags": tags}

    def artifacts(self) -> list[tuple[str, int]]:
        """(path relative to the run folder, size in bytes) of every file but the journal's."""
        files = []
        for path in sorted(p for p in self.run_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(self.run_dir).as_posix()
            if not rel.startswith("tracking/"):
                files.append((rel, path.stat().st_size))
        return files

    def exception_text(self) -> str | None:
        path = self.run_dir / EXCEPTION_PATH
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def read_run(run_dir: Path) -> RunRecord:
    try:
        summary = json.loads((run_dir / SUMMARY_PATH).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        summary = {}
    return RunRecord(run_dir, summary if isinstance(summary, dict) else {})


def list_runs(root: Path) -> list[RunRecord]:
    """Every run folder in the artifact root, newest first (run ids sort by start time)."""
    base = runs_dir(root)
    if not base.is_dir():
        return []
    return [read_run(p) for p in sorted((p for p in base.iterdir() if p.is_dir()), reverse=True)]


def filter_runs(runs: list[RunRecord], *, plugin: str | None = None, status: str | None = None,
                tags: dict[str, str] | None = None, since: datetime | None = None) -> list[RunRecord]:
    out = []
    for run in runs:
        if plugin and run.plugin != plugin:
            continue
        if status and status.upper() not in (run.status, run.display_status):
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
        return now - timedelta(**{unit: int(match.group(1))})
    parsed = _parse_iso(text.strip())
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
    if host and host != socket.gethostname():
        return None  # another machine's process: nothing here can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    born = _process_start(pid)
    if born is not None and started is not None and born > started + timedelta(seconds=5):
        return False  # the pid was reused by a process younger than the run
    return True


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


def _parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
