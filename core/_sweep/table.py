"""A sweep's result table: one typed row per planned run (`ResultRow`), built from what each
run's folder says, ranked by the sweep's metric, and the sweep's `SweepOutcome` around it.
Also the rows' JSON (for results.json and `core sweep --json`) and CSV forms; the store
writes them, the command prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core._errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED
from core._records import RecordStatus, RunRecord, read_run
from core._redact import redact_mapping
from core._sweep.plan import PlannedRun
from core._sweep.worker import JobResult
from core._tracking.pruning import PRUNED_STEP_TAG


@dataclass(frozen=True)
class ResultRow:
    """One planned run in the table: what its run folder says, or NOT_RUN without one."""

    index: int
    key: str
    overrides: dict[str, Any]
    run_id: str | None
    status: RecordStatus
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    run_dir: str | None = None
    #: FINISHED in an earlier attempt of the sweep, not rerun
    resumed: bool = False
    rank: int | None = None
    #: tracking calls not yet in MLflow, kept in the run's journal on `node`
    pending: int = 0
    node: str | None = None
    #: earlier attempts of this config whose task was lost with its node (this row is the last try)
    retry_of: tuple[str, ...] = ()
    #: PRUNED: the step of the watched metric at which the search's pruner stopped it
    pruned_step: int | None = None
    #: the run's folder on `node`, for a run that ran on another node (`run_dir` is the summary kept here)
    node_folder: str | None = None

    def to_json(self, *, ranked: bool) -> dict[str, Any]:
        """The row as results.json stores it; `resumed` only when set and `rank` only in a ranked table,
        as the file has always had it."""
        data: dict[str, Any] = {"index": self.index, "key": self.key, "overrides": self.overrides,
                                "run_id": self.run_id, "status": self.status.value, "metrics": self.metrics,
                                "error": self.error, "run_dir": self.run_dir}
        if self.resumed:
            data["resumed"] = True
        if self.pending:
            data["pending"] = self.pending
        if self.node:
            data["node"] = self.node
        if self.retry_of:
            data["retry_of"] = list(self.retry_of)
        if self.pruned_step is not None:
            data["pruned_step"] = self.pruned_step
        if self.node_folder:
            data["node_folder"] = self.node_folder
        if ranked:
            data["rank"] = self.rank
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultRow:
        """A row of an earlier results.json; a status this core does not know reads as UNKNOWN, so a
        hand-edited file is rerun rather than trusted."""
        try:
            status = RecordStatus(data.get("status"))
        except ValueError:
            status = RecordStatus.UNKNOWN
        index = data.get("index")
        return cls(index=index if isinstance(index, int) else -1, key=str(data.get("key", "")),
                   overrides=dict(data.get("overrides") or {}), run_id=data.get("run_id"), status=status,
                   metrics=dict(data.get("metrics") or {}), error=data.get("error"), run_dir=data.get("run_dir"),
                   resumed=bool(data.get("resumed")), rank=data.get("rank"),
                   pending=data.get("pending") if isinstance(data.get("pending"), int) else 0,
                   node=data.get("node") if isinstance(data.get("node"), str) else None,
                   retry_of=tuple(str(r) for r in data.get("retry_of") or ()),
                   pruned_step=data.get("pruned_step") if isinstance(data.get("pruned_step"), int) else None,
                   node_folder=data.get("node_folder") if isinstance(data.get("node_folder"), str) else None)


#: how a sweep's run may end without the sweep failing (`core sweep` exits 0 when every run did)
ENDED_WELL = (RecordStatus.FINISHED, RecordStatus.PRUNED)


@dataclass
class SweepOutcome:
    """What a sweep did: its ranked rows and how it went."""

    sweep_id: str
    folder: Path
    rows: list[ResultRow]
    metric: str | None
    mode: str | None
    interrupt: str | None = None
    skipped: int = 0
    startup_s: float = 0.0
    elapsed_s: float = 0.0
    parent_run_id: str | None = None
    #: a search stopped because its first FINISHED run had not logged the metric (`Search.blind_run`)
    blind_run: str | None = None

    @property
    def failed(self) -> list[ResultRow]:
        """Rows that did not end well: neither FINISHED nor PRUNED (a search stopping a run is no failure)."""
        return [r for r in self.rows if r.status not in ENDED_WELL]

    @property
    def finished(self) -> int:
        return sum(1 for r in self.rows if r.status is RecordStatus.FINISHED)

    @property
    def pruned(self) -> int:
        return sum(1 for r in self.rows if r.status is RecordStatus.PRUNED)

    @property
    def pending(self) -> list[ResultRow]:
        """Rows whose run still has tracking calls to send (`core sync` on their node)."""
        return [r for r in self.rows if r.pending]

    @property
    def best(self) -> ResultRow | None:
        return next((r for r in self.rows if r.rank == 1), None)

    @property
    def exit_code(self) -> int:
        if self.interrupt == "SIGTERM":
            return EXIT_TERMINATED
        if self.interrupt:
            return EXIT_INTERRUPTED
        if self.blind_run:
            return EXIT_BAD_INPUT  # the sweep's metric: bad input, found by the first run
        return 1 if self.failed else 0

    def rows_json(self) -> list[dict[str, Any]]:
        return [row.to_json(ranked=bool(self.metric)) for row in self.rows]


def build_rows(planned: list[PlannedRun], results: Mapping[int, JobResult], done: Mapping[str, ResultRow],
               on_disk: Callable[[], Mapping[int, RunRecord]], *,
               retries: Mapping[int, list[str]] | None = None,
               remote: Callable[[JobResult], RunRecord | None] | None = None) -> list[ResultRow]:
    """One row per planned run, from what its run folder says (the truth after a kill): `results`
    are this attempt's answers by index, `done` the rows FINISHED earlier by key, `on_disk` the
    sweep's run folders by index (read only when some run has neither). A run that ran on another
    node is read from the summary its task returned (`remote`, kept in the sweep's folder); one whose
    node was lost is FAILED with the reason; `retries` are the lost attempts before the last, by index."""
    lost = any(p.key not in done and not getattr(results.get(p.index), "run_id", None) for p in planned)
    found = on_disk() if lost else {}
    rows = []
    for run in planned:
        overrides = redact_mapping(run.overrides)
        prior = done.get(run.key)
        if prior is not None:
            rows.append(replace(prior, index=run.index, key=run.key, overrides=overrides, resumed=True, rank=None))
            continue
        result = results.get(run.index)
        error = result.error if result else None
        earlier = tuple((retries or {}).get(run.index, ()))
        node_folder = None
        if result is not None and result.summary is not None and remote is not None:
            record = remote(result)
            node_folder = result.run_dir
        elif result is not None and result.run_dir:
            record = read_run(Path(result.run_dir))
        elif result is not None and result.node_lost and result.run_id:
            rows.append(ResultRow(run.index, run.key, overrides, result.run_id, RecordStatus.FAILED, error=error,
                                  node=result.node, retry_of=earlier))
            continue
        else:
            record = found.get(run.index)
        if record is None:
            # FAILED before its run folder existed (e.g. its node lacks the plugin), or never started
            status = RecordStatus.FAILED if result is not None and result.status is RecordStatus.FAILED \
                else RecordStatus.NOT_RUN
            rows.append(ResultRow(run.index, run.key, overrides, None, status, error=error,
                                  node=result.node if result else None, retry_of=earlier))
            continue
        summary = record.summary
        pending = summary.tracking.pending if summary and summary.tracking and summary.tracking.pending else 0
        rows.append(ResultRow(run.index, run.key, overrides, record.run_id, record.display_status, record.metrics,
                              record.error or error, str(record.run_dir), pending=int(pending or 0),
                              node=(result.node if result else None) or (summary.host if summary else None),
                              retry_of=earlier, pruned_step=pruned_step(record), node_folder=node_folder))
    return rows


def pruned_step(record: RunRecord) -> int | None:
    """The step a PRUNED run was stopped at (its `mlcore.pruned_step` tag), else None."""
    if record.status is not RecordStatus.PRUNED:
        return None
    step = str(record.tags.get(PRUNED_STEP_TAG, ""))
    return int(step) if step.lstrip("-").isdigit() else None


def rank(rows: list[ResultRow], metric: str | None, mode: str | None) -> list[ResultRow]:
    """Rows with a value of `metric` from a FINISHED run first, best first (`mode` max or min),
    ranked 1, 2, ...; then the PRUNED ones by their last value (at the step they were stopped),
    unranked: a value from fewer epochs is not comparable; then the rest, unranked; ties and the rest
    in plan order."""
    if not metric:
        return rows

    def value(row: ResultRow) -> float | None:
        found = row.metrics.get(metric)
        return found if row.status is RecordStatus.FINISHED and isinstance(found, (int, float)) else None

    def sort_key(row: ResultRow) -> tuple[int, float, int]:
        found = value(row)
        if found is None:
            last = row.metrics.get(metric)
            if row.status is RecordStatus.PRUNED and isinstance(last, (int, float)):
                return (1, -last if mode == "max" else last, row.index)
            return (2, 0.0, row.index)
        return (0, -found if mode == "max" else found, row.index)

    ranked = sorted(rows, key=sort_key)
    return [replace(row, rank=place if value(row) is not None else None) for place, row in enumerate(ranked, 1)]


def csv_rows(outcome: SweepOutcome) -> list[list[Any]]:
    """results.csv: a header, then one line per row; overrides as JSON so types survive a spreadsheet."""
    metric = outcome.metric
    keys = sorted({k for row in outcome.rows for k in row.overrides})
    table: list[list[Any]] = [["rank", "index", "run_id", "status", *keys, metric or "metric", "error", "pending",
                               "pruned_step"]]
    for row in outcome.rows:
        value = row.metrics.get(metric) if metric else None
        table.append([row.rank, row.index, row.run_id, row.status.value,
                      *[json.dumps(row.overrides.get(k)) if k in row.overrides else "" for k in keys],
                      "" if value is None else value, row.error.splitlines()[0][:300] if row.error else "",
                      row.pending or "", "" if row.pruned_step is None else row.pruned_step])
    return table


def describe(overrides: Mapping[str, Any]) -> str:
    """A run's overrides in a few words, for messages: `max_depth=3, lr=0.001`."""
    parts = []
    for key, value in overrides.items():
        name = key.removeprefix("data_spec.").removeprefix("model.")
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)
