"""A sweep's folder and its files: making a new one or finding one to resume, its state, plan
and results (JSON and CSV), and the run folders that belong to it.

    <artifact root>/sweeps/<sweep id>/
      state.json     the sweep's id, name, creation time and file; its parent MLflow run and tracking URI
      plan.json      every planned run: index, key, overrides and spec (credentials redacted)
      results.json   the table's rows and the sweep's totals
      results.csv    the same rows, for a spreadsheet
      report.html    the sweep's page: counts, best run, ranked table, charts, failures (`page`)
      stopping       made when the sweep is stopped, so a run that has not begun never starts
      runs/<run id>/summary.json  the summary of a run that ran on another node (a Ray cluster: its
                     folder stays there and in tracking, `core runs fetch` brings it here)

Each run is an ordinary run folder under `runs/`, tagged `mlcore.sweep_id`, `mlcore.sweep_index`
and `mlflow.parentRunId`; the store finds a sweep's runs by those tags, so the table tells what
is on disk even after the driver was killed.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core._errors import BadInput
from core._files import atomic_write_json, atomic_write_text
from core._layout import RUNS_DIR, sweeps_dir
from core._records import HELD_SUMMARY, RunRecord, list_runs, read_run
from core._redact import redact_mapping
from core._summary import iso
from core._sweep.plan import SweepPlan
from core._sweep.table import ENDED_WELL, ResultRow, SweepOutcome, csv_rows, pruned_step

SWEEP_TAG, INDEX_TAG, PARENT_TAG = "mlcore.sweep_id", "mlcore.sweep_index", "mlflow.parentRunId"


@dataclass(frozen=True, slots=True)
class SweepLayout:
    """The paths of one sweep folder's files."""

    dir: Path

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @property
    def driver_lock(self) -> Path:
        return self.dir / "driver.lock"

    @property
    def plan(self) -> Path:
        return self.dir / "plan.json"

    @property
    def results_json(self) -> Path:
        return self.dir / "results.json"

    @property
    def results_csv(self) -> Path:
        return self.dir / "results.csv"

    @property
    def report(self) -> Path:
        return self.dir / "report.html"

    @property
    def stop_file(self) -> Path:
        return self.dir / "stopping"

    def held(self, run_id: str) -> Path:
        """The folder holding the summary of run `run_id`, which ran on another node."""
        return self.dir / RUNS_DIR / run_id


@dataclass(frozen=True)
class SweepState:
    """What state.json says; the field names are the file's."""

    sweep_id: str
    name: str | None = None
    created_at: str | None = None
    source: str | None = None
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    #: set while the parent run's ending has not reached tracking: 0 from the parent's start, then the
    #: end's time (ms) once it is tried. A `--resume` with nothing left to run ends a parent noted so
    #: (the server was down at the end, or the driver was killed first), at that time when one was
    #: tried, so a metric point the failed try did log is the same point again
    parent_end_pending_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepState:
        return cls(data["sweep_id"], data.get("name"), data.get("created_at"), data.get("source"),
                   data.get("parent_run_id"), data.get("tracking_uri"), data.get("parent_end_pending_ms"))


@dataclass
class SweepStore:
    """One sweep's folder, opened: new, or an earlier one being resumed (with its earlier rows)."""

    root: Path
    layout: SweepLayout
    state: SweepState
    resumed: bool = False
    previous: tuple[ResultRow, ...] = ()
    #: by key, runs FINISHED in tracking that the sweep's files do not show (`recover`: the driver died first)
    tracked: dict[str, ResultRow] = field(default_factory=dict)
    #: the open `driver.lock`, flocked while this driver runs the sweep (`close` or the process's end frees it)
    lock_fd: int | None = None

    @classmethod
    def open(cls, root: Path, plan: SweepPlan, resume: str | None) -> SweepStore:
        """A new folder for `plan`, or with `resume` the earlier one it names ("latest": the newest of this name).
        Either way this driver holds the folder's lock until `close`: two drivers resuming one sweep at once
        would run its missing runs twice and both write its table."""
        store = cls._resume(root, plan, resume) if resume else cls._create(root, plan)
        store.lock_fd = _hold_driver_lock(store.layout, store.sweep_id)
        return store

    def close(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # the flock goes with it
            self.lock_fd = None

    @classmethod
    def _create(cls, root: Path, plan: SweepPlan) -> SweepStore:
        now = datetime.now(timezone.utc)
        sweep_id = f"{plan.name}-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
        folder = sweeps_dir(root) / sweep_id
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise BadInput(f"cannot create the sweep folder in artifact root '{root}': {exc.strerror}") from None
        return cls(root, SweepLayout(folder), SweepState(sweep_id, plan.name, iso(now), plan.source))

    @classmethod
    def _resume(cls, root: Path, plan: SweepPlan, resume: str) -> SweepStore:
        base = sweeps_dir(root)
        if resume == "latest":
            found = _sweeps_of(base, plan.name)
            if not found:
                raise BadInput(f"--resume: no earlier sweep named '{plan.name}' in {base}")
            layout = SweepLayout(found[-1])
        else:
            layout = SweepLayout(base / resume)
            if not layout.state.is_file():
                raise BadInput(f"--resume: no sweep '{resume}' in {base}{_sweeps_named(base, plan.name)}")
        state = SweepState.from_json(_read_json(layout.state))
        _check_same_sweep(layout, state, plan)
        previous = _read_json(layout.results_json)["runs"] if layout.results_json.is_file() else []
        return cls(root, layout, state, resumed=True, previous=tuple(ResultRow.from_json(r) for r in previous))

    @property
    def sweep_id(self) -> str:
        return self.state.sweep_id

    def finished(self) -> dict[str, ResultRow]:
        """By key, the runs this sweep already FINISHED (or PRUNED, in a search: its study has them):
        those in its results.json and, when resuming, those on disk (or FINISHED in tracking: `tracked`)
        that never reached it (the driver was killed)."""
        done = {r.key: r for r in self.previous if r.status in ENDED_WELL}
        if self.resumed:
            done |= self._finished_on_disk(done)
            done |= {k: r for k, r in self.tracked.items() if k not in done}
        return done

    def planned_keys(self) -> dict[int, str]:
        """By sweep index, the keys of the runs the sweep's plan.json had (before a resume rewrites it)."""
        if not self.layout.plan.is_file():
            return {}
        return {r["index"]: r["key"] for r in _read_json(self.layout.plan)["runs"]}

    def _finished_on_disk(self, known: dict[str, ResultRow]) -> dict[str, ResultRow]:
        # Matched to specs through the earlier plan.json, so it must be read before the plan is rewritten.
        key_of = self.planned_keys()
        found: dict[str, ResultRow] = {}
        for index, record in self.runs_on_disk():
            key = key_of.get(index)
            if record.status in ENDED_WELL and key and key not in known and key not in found:
                found[key] = ResultRow(index, key, {}, record.run_id, record.status, record.metrics,
                                       None, str(record.run_dir), pruned_step=pruned_step(record))
        return found

    def latest_attempts(self) -> dict[int, RunRecord]:
        """By sweep index, the newest run folder tagged with this sweep."""
        latest: dict[int, RunRecord] = {}
        for index, record in self.runs_on_disk():
            latest.setdefault(index, record)
        return latest

    def runs_on_disk(self) -> list[tuple[int, RunRecord]]:
        """(sweep index, run record) of every run folder tagged with this sweep, newest first."""
        found = []
        for record in list_runs(self.root):
            # the run's tags (core adds the sweep's); a sweep from before that carried them in its spec
            tags = {**record.spec_tags, **record.tags}
            index = str(tags.get(INDEX_TAG, ""))
            if tags.get(SWEEP_TAG) == self.sweep_id and index.isdigit():
                found.append((int(index), record))
        return found

    def save_held_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        """Keep the summary a task returned for a run whose folder is on another node."""
        folder = self.layout.held(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / HELD_SUMMARY, summary)

    def held_record(self, run_id: str) -> RunRecord | None:
        folder = self.layout.held(run_id)
        return read_run(folder) if (folder / HELD_SUMMARY).is_file() else None

    def save_state(self, *, parent_run_id: str | None, tracking_uri: str) -> None:
        self.state = replace(self.state, parent_run_id=parent_run_id, tracking_uri=tracking_uri)
        atomic_write_json(self.layout.state, self.state.to_json())

    def save_parent_end_pending(self, end_ms: int | None) -> None:
        """Note that the parent run's ending is still to be sent (at `end_ms`), or, with None, that it was."""
        self.state = replace(self.state, parent_end_pending_ms=end_ms)
        atomic_write_json(self.layout.state, self.state.to_json())

    def save_plan(self, plan: SweepPlan) -> None:
        runs = [{"index": p.index, "key": p.key, "overrides": redact_mapping(p.overrides),
                 "spec": redact_mapping(p.spec.to_dict())} for p in plan.runs]
        atomic_write_json(self.layout.plan, {"sweep_id": self.sweep_id, "source": plan.source, "runs": runs})

    def save_results(self, outcome: SweepOutcome, executor: str) -> None:
        """results.json (the rows and the sweep's totals) and results.csv (the rows)."""
        summary = {"sweep_id": outcome.sweep_id, "metric": outcome.metric, "mode": outcome.mode, "executor": executor,
                   "runs_total": len(outcome.rows), "finished": outcome.finished, "pruned": outcome.pruned,
                   "not_finished": len(outcome.failed), "interrupted": outcome.interrupt,
                   "resumed_runs": outcome.skipped, "startup_s": round(outcome.startup_s, 3),
                   "elapsed_s": round(outcome.elapsed_s, 3), "parent_run_id": outcome.parent_run_id,
                   "written_at": iso(datetime.now(timezone.utc)), "runs": outcome.rows_json()}
        atomic_write_json(self.layout.results_json, summary)
        text = io.StringIO(newline="")
        csv.writer(text).writerows(csv_rows(outcome))
        atomic_write_text(self.layout.results_csv, text.getvalue())


def _hold_driver_lock(layout: SweepLayout, sweep_id: str) -> int | None:
    """The sweep folder's lock, taken without waiting (a `flock`: the kernel frees it however this process
    ends, so a killed driver never leaves the sweep locked), with this process's pid in it for the message
    another driver gets."""
    fd = os.open(layout.driver_lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise BadInput(f"--resume: sweep '{sweep_id}' is being run by another core sweep{by}: let it end, "
                           f"or stop it, then resume") from None
        except OSError:  # a file system without flock (some network mounts): sweeps run as before, unguarded
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_same_sweep(layout: SweepLayout, state: SweepState, plan: SweepPlan) -> None:
    """A resume continues the sweep it names with that sweep's file (its values may change: new keys
    run). Another sweep's file would rank its runs by another metric and overwrite its plan, table and
    study (an explicit `--resume <id>` of a sweep run from another file): another name from another
    file, or another plugin, is refused."""
    if state.name and state.name != plan.name and not _same_file(state.source, plan.source):
        raise BadInput(f"--resume {state.sweep_id}: that sweep is named '{state.name}' (from {state.source}), "
                       f"this file's is '{plan.name}': resume it with its own file, or give --name {state.name}")
    swept = set(plan.grid) | set(plan.random_params) | set(plan.search.params if plan.search else ())
    if "plugin" in swept:
        return  # the sweep chooses the plugin: its runs differ in it by design
    earlier = _read_json(layout.plan)["runs"] if layout.plan.is_file() else []
    plugins = {r["spec"].get("plugin") for r in earlier if isinstance(r.get("spec"), dict)}
    plugin = plan.base.get("plugin")
    if plugins and plugin not in plugins:
        raise BadInput(f"--resume {state.sweep_id}: that sweep ran plugin '{sorted(plugins)[0]}', this file runs "
                       f"'{plugin}': resume it with its own file")


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _sweeps_of(base: Path, name: str) -> list[Path]:
    """The resumable sweeps named `name` in `base`, oldest first (their ids are dated). Exactly that
    name: `rf-*` alone would take a newer sweep named `rf-big` for the latest `rf`."""
    dated = re.compile(re.escape(name) + r"-\d{8}-\d{6}-\d{3}")
    return sorted(p for p in base.glob(f"{glob.escape(name)}-*")
                  if dated.fullmatch(p.name) and SweepLayout(p).state.is_file()) if base.is_dir() else []


def _sweeps_named(base: Path, name: str, shown: int = 3) -> str:
    """For a `--resume` id that is not there: the newest sweeps of this name that are."""
    found = [p.name for p in _sweeps_of(base, name)]
    if not found:
        return f" (nor any sweep named '{name}')"
    newest = ", ".join(reversed(found[-shown:])) + (f" and {len(found) - shown} older" if len(found) > shown else "")
    return f" (sweeps named '{name}' there, newest first: {newest}; or --resume latest)"
