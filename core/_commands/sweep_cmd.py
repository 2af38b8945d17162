"""`core sweep FILE`: expand a sweep file and run it; `--dry-run` lists the runs.

All of a sweep's printing happens here: the driver reports what happens as events, and
`_Console` shows them (a line per finished or failed run above a progress bar), then the
ranked table.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from core._commands._output import print_json, print_table
from core._errors import BadInput
from core._progress import ProgressBar
from core._records import RecordStatus
from core._sweep.driver import (
    NoParentRun,
    ParentRunUnfinished,
    RunDone,
    RunRetried,
    RunsOver,
    RunsRecovered,
    SearchBlind,
    SearchPlotSkipped,
    StudyTrouble,
    SweepChecking,
    SweepEvent,
    SweepOptions,
    SweepPageUnwritten,
    SweepStarted,
    SweepStopping,
    run_sweep,
)
from core._sweep.plan import load_sweep
from core._sweep.store import SweepLayout
from core._sweep.table import SweepOutcome, describe

FINISHED = RecordStatus.FINISHED.value


def sweep_command(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    plan = load_sweep(args.file, overrides=args.overrides, name=args.name, metric=args.metric, mode=args.mode,
                      trials=args.trials)
    if args.dry_run and plan.search is not None:
        return _dry_run_search(plan, as_json=args.json)
    if args.dry_run:
        from core._runner import prepare

        for planned in plan.runs:
            prepare(planned.spec, source=f"{plan.source} (run {planned.index})")
        if args.json:
            print_json([{"index": p.index, "key": p.key, "overrides": p.overrides, "spec": p.spec.to_dict()}
                        for p in plan.runs])
        else:
            print(f"sweep {plan.name}: {len(plan.runs)} runs of plugin '{plan.runs[0].spec.plugin}' (all valid)")
            for p in plan.runs:
                print(f"  {p.index:>4}  " + ", ".join(f"{k}={_show(v)}" for k, v in p.overrides.items()))
        return 0
    if args.max_workers is not None and args.max_workers < 1:
        raise BadInput(f"--max-workers: {args.max_workers} is not a positive number of runs")
    options = SweepOptions(executor=args.executor, max_workers=args.max_workers, ray_address=args.ray_address,
                           artifact_root=args.artifact_root, tracking_uri=args.tracking_uri, metric=args.metric,
                           mode=args.mode, resume=args.resume, retries=args.retries, retry_failed=args.retry_failed,
                           ray=_ray_options(args, plan.ray) if args.executor == "ray" else None)
    # Under --json, stdout carries the JSON alone: what would go there goes to stderr.
    out = sys.stderr if args.json else sys.stdout
    # Under --json, what anything else prints meanwhile goes to stderr too (Ray's driver prints cluster
    # events, "Raylet is terminated ...", to stdout).
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet, _Console(out) as console:
        outcome = run_sweep(plan, options, on_event=console)
    # Once said at the first run that lacked it, the end does not say it again.
    unlogged = None if console.metric_logged is False else _metric_never_logged(outcome)
    if args.json:
        if unlogged:
            print(unlogged, file=sys.stderr)
        print_json({"sweep_id": outcome.sweep_id, "folder": str(outcome.folder), "metric": outcome.metric,
                    "mode": outcome.mode, "interrupted": outcome.interrupt, "parent_run_id": outcome.parent_run_id,
                    "startup_s": outcome.startup_s, "elapsed_s": outcome.elapsed_s, "runs": outcome.rows_json(),
                    "exit_code": outcome.exit_code})
        return outcome.exit_code
    _print_table(outcome, wall_s=time.perf_counter() - started)
    if unlogged:
        print(unlogged, file=sys.stderr)
    return outcome.exit_code


def _ray_options(args: argparse.Namespace, from_file: dict[str, Any]) -> Any:
    """The sweep file's `sweep.ray`, with the `--ray-*` options on top."""
    from core._spec import read_spec_file
    from core._sweep.plan import parse_ray
    from core._sweep.ray_executor import RayOptions

    given: dict[str, Any] = {}
    if args.ray_num_cpus is not None:
        given["num_cpus"] = args.ray_num_cpus
    if args.ray_num_gpus is not None:
        given["num_gpus"] = args.ray_num_gpus
    if args.ray_resource:
        resources = {}
        for item in args.ray_resource:
            name, sep, amount = item.partition("=")
            try:
                resources[name.strip()] = float(amount) if sep else 1.0
            except ValueError:
                raise BadInput(f"--ray-resource: '{item}' is not NAME=AMOUNT") from None
        given["resources"] = resources
    if args.ray_runtime_env:
        given["runtime_env"] = read_spec_file(args.ray_runtime_env)
    merged = {**from_file, **parse_ray(given, "the --ray-* options", "ray")}
    return RayOptions(**merged)


class _Console:
    """A sweep as it goes: its start on `out`, a line per run as it comes back (finished ones on
    `out`, the others on stderr), a progress bar under them while runs are running."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.bar: ProgressBar | None = None
        self.adaptive = False
        #: the sweep's metric: None until a FINISHED run shows whether runs log it (True), or one did not (False)
        self.metric_logged: bool | None = None

    def __enter__(self) -> _Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_bar()  # the driver failed before it could say the runs were over

    def __call__(self, event: SweepEvent) -> None:
        match event:
            case SweepChecking():
                self._checking(event)
            case RunsRecovered():
                self._recovered(event)
            case SweepStarted():
                self._started(event)
            case RunDone():
                self._run_done(event)
            case RunRetried():
                self._retried(event)
            case SweepStopping(signal=name):
                self._write(f"{name}: stopping the sweep; running runs end {RecordStatus.KILLED.value}, no new run "
                            "starts", sys.stderr)
            case RunsOver():
                self._close_bar()
            case NoParentRun(error=exc):
                print(f"warning: no parent MLflow run ({type(exc).__name__}: {_first_line(str(exc))[:200]}); runs "
                      "are still tracked one by one", file=sys.stderr)
            case SearchPlotSkipped(reason=reason):
                print(f"note: search plot left out: {reason}", file=sys.stderr)
            case SweepPageUnwritten(error=exc):
                print(f"warning: the sweep's report.html could not be written ({type(exc).__name__}: "
                      f"{_first_line(str(exc))[:200]}); results.json and results.csv have its table", file=sys.stderr)
            case SearchBlind(run_id=run_id, metric=metric, logged=logged):
                self.metric_logged = False
                self._write(f"warning: run {run_id} FINISHED without logging the sweep's metric '{metric}', and no "
                            "trial has had a value: the search asks no more trials (each would fail the same way, "
                            f"none with a value to learn from; exit 2); {_metric_hint(metric, list(logged))}",
                            sys.stderr)
            case StudyTrouble(error=exc):
                print(f"warning: the search's study could not be told a run's end ({type(exc).__name__}: "
                      f"{_first_line(str(exc))[:200]})", file=sys.stderr)
            case ParentRunUnfinished(run_id=run_id, error=exc, sweep_id=sweep_id, tracking_uri=uri):
                resume = f"--resume {sweep_id}" + (f" --tracking-uri {uri}" if uri else "")
                then = (f"; the sweep's files have its results, and {resume} ends it once tracking answers"
                        if sweep_id else "")
                print(f"warning: could not finish the parent MLflow run {run_id}: {type(exc).__name__}: "
                      f"{_first_line(str(exc))[:200]}{then}", file=sys.stderr)

    def _checking(self, event: SweepChecking) -> None:
        """Checking every run's config and starting the workers takes seconds: say so, not silence."""
        if not event.to_run:
            ended = "FINISHED or PRUNED" if event.adaptive else "FINISHED"
            print(f"sweep {event.name}: nothing left to run (all {event.planned} runs {ended})", file=self.out,
                  flush=True)
            return
        starting = f" and starting the {event.executor} executor" if event.executor != "sequential" else ""
        if event.adaptive:
            print(f"sweep {event.name}: a search of up to {event.to_run} trials; checking its config{starting}...",
                  file=self.out, flush=True)
            return
        print(f"sweep {event.name}: {event.to_run} run{'' if event.to_run == 1 else 's'} to run; checking their configs{starting}...", file=self.out,
              flush=True)

    def _recovered(self, event: RunsRecovered) -> None:
        """A resume after the driver died: what MLflow told that the sweep's files did not."""
        if event.finished:
            print(f"sweep {event.sweep_id}: {event.finished} run(s) {FINISHED} in MLflow though their results never "
                  "reached the driver: not run again", file=self.out, flush=True)
        if event.ended:
            again = "their trials are not counted" if event.adaptive else "their configs run again"
            print(f"sweep {event.sweep_id}: {event.ended} run(s) left RUNNING by the driver that died ended "
                  f"{RecordStatus.KILLED.value} in MLflow (mlcore.failure=driver_lost): {again}",
                  file=self.out, flush=True)

    def _started(self, event: SweepStarted) -> None:
        self.adaptive = event.adaptive
        if event.adaptive:
            earlier = f" ({event.planned - event.to_run} earlier)" if event.resuming else ""
            print(f"{'resuming ' if event.resuming else ''}sweep {event.sweep_id}: search of up to {event.to_run} "
                  f"trials{earlier}, executor {event.executor}", file=self.out)
        elif event.resuming:
            if event.to_run:  # with none, "nothing left to run" was said already
                print(f"resuming sweep {event.sweep_id}: {event.planned - event.to_run} of {event.planned} runs "
                      f"already {FINISHED}, running {event.to_run}", file=self.out)
        else:
            workers = event.max_workers and event.executor != "sequential"
            print(f"sweep {event.sweep_id}: {event.to_run} runs, executor {event.executor}"
                  + (f" ({event.max_workers} workers)" if workers else ""), file=self.out)
        self.bar = ProgressBar(event.to_run, desc=f"sweep {event.name}")

    def _check_metric(self, event: RunDone) -> None:
        """Said at the first FINISHED run, not after the last: a misspelled metric leaves every run of a
        sweep unranked."""
        metric, logged = event.metric, event.result.metrics
        if not metric or self.adaptive or self.metric_logged is not None or not logged:
            return  # a search says it itself, when it stops (`SearchBlind`)
        self.metric_logged = metric in logged
        if not self.metric_logged:
            self._write(f"warning: run {event.result.run_id or '?'} FINISHED without logging the sweep's metric "
                        f"'{metric}': runs that do not log it are not ranked; {_metric_hint(metric, sorted(logged))}",
                        sys.stderr)

    def _retried(self, event: RunRetried) -> None:
        result = event.result
        first = _first_line((result.error or result.status.value).strip())
        word = "LOST" if result.node_lost else result.status.value
        ended = f"; its MLflow run ended {RecordStatus.FAILED.value} (node_lost)" if event.marked else ""
        self._write(f"{word:<6} run {event.lost_run_id or '?'}: {first}{ended}; retrying as run {event.new_run_id} "
                    f"(attempt {event.attempt + 1} of {event.attempts + 1})  ({describe(event.overrides)})",
                    sys.stderr)

    def _run_done(self, event: RunDone) -> None:
        result = event.result
        where = f"[{event.done}/{event.total}] run {result.run_id or '?'}"
        if result.status is RecordStatus.FINISHED:
            value = result.metrics.get(event.metric) if event.metric else None
            shown = f"  {event.metric}={value:.6g}" if isinstance(value, (int, float)) else ""
            if result.pending:
                shown += f"  ({result.pending} tracking calls pending on {result.node or 'its node'})"
            self._write(f"ok     {where}{shown}  ({describe(event.overrides)})", self.out)
            self._check_metric(event)
        elif result.status is RecordStatus.PRUNED:
            value = result.metrics.get(event.metric) if event.metric else None
            shown = f"  {event.metric}={value:.6g} (last)" if isinstance(value, (int, float)) else ""
            self._write(f"pruned {where}{shown}  ({describe(event.overrides)})", self.out)
        else:
            first = _first_line((result.error or result.status.value).strip())
            self._write(f"{result.status.value:<6} {where}: {first}  ({describe(event.overrides)})", sys.stderr)
        if self.bar is not None:
            counts = {"finished": event.finished, "pruned": event.pruned} if event.pruned else {}
            self.bar.update(1, running=event.running, **counts, failed=event.failed)

    def _write(self, text: str, stream: TextIO) -> None:
        if self.bar is not None:
            self.bar.write(text, stream)  # above the bar, without tearing it
        else:
            print(text, file=stream, flush=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _metric_never_logged(outcome: SweepOutcome) -> str | None:
    """A warning when runs finished but none logged the metric the table ranks by (a misspelled
    `--metric` or `sweep.metric`: every rank and value would be `-`, silently)."""
    metric = outcome.metric
    finished = [row for row in outcome.rows if row.status in (RecordStatus.FINISHED, RecordStatus.PRUNED)]
    if not metric or not finished or any(metric in row.metrics for row in finished):
        return None
    logged = sorted({key for row in finished for key in row.metrics})
    if not logged:
        return None  # the runs' metrics are not known here (their summaries were not read back)
    return f"warning: no run logged the metric '{metric}', so the table is not ranked; {_metric_hint(metric, logged)}"


def _metric_hint(metric: str, logged: list[str]) -> str:
    """The metric probably meant, and those the runs did log."""
    from core._errors import close_matches

    hint = close_matches(metric, logged)
    meant = f"did you mean {' or '.join(repr(h) for h in hint)}? " if hint else ""
    shown = ", ".join(logged[:12]) + (", ..." if len(logged) > 12 else "")
    return f"{meant}(the runs logged: {shown})"


def _print_table(outcome: SweepOutcome, *, wall_s: float) -> None:
    metric = outcome.metric
    keys = list(dict.fromkeys(k for row in outcome.rows for k in row.overrides))
    pending = outcome.pending
    header = ["rank", "run id", "status", *[k.removeprefix("data_spec.") for k in keys]] + ([metric] if metric else [])
    header += ["pending"] if pending else []
    rows = []
    for row in outcome.rows:
        value = row.metrics.get(metric) if metric else None
        status = row.status.value + (" (earlier)" if row.resumed else "")
        if row.retry_of:
            status += f" (retry of {row.retry_of[-1]})"
        if row.pruned_step is not None:
            status += f" @ step {row.pruned_step}"
        rows.append([row.rank or "-", row.run_id or "-", status, *[_show(row.overrides.get(k)) for k in keys]]
                    + ([_show(value)] if metric else []) + ([row.pending or "-"] if pending else []))
    print()
    print_table(header, rows)
    ranked = f", ranked by {metric} ({outcome.mode})" if metric and any(r.rank for r in outcome.rows) else ""
    # The wall clock from the command's start (what the user waited), then the runs' phase from the first
    # submitted to the last back, and the executor's start-up (workers spawned, Ray started or joined).
    pruned = f", {outcome.pruned} {RecordStatus.PRUNED.value}" if outcome.pruned else ""
    print(f"\n{outcome.finished} of {len(outcome.rows)} runs {FINISHED}{pruned}{ranked}; {wall_s:.1f}s in all (runs "
          f"{outcome.elapsed_s:.1f}s; executor start-up {outcome.startup_s:.1f}s)")
    best = next((row for row in outcome.rows if row.rank == 1 and row.run_id), None)
    if best is not None:  # the way on from a sweep: the winner's config as a spec file of its own
        print(f"best: run {best.run_id}, {metric}={_show(best.metrics.get(metric))}; its spec: "
              f"core runs spec {best.run_id} -o best.yaml")
    layout = SweepLayout(outcome.folder)
    print(f"table: {layout.results_csv} and results.json")
    if layout.report.is_file():
        print(f"page: {layout.report}")
    if outcome.parent_run_id:
        print(f"mlflow: parent run {outcome.parent_run_id}")
    if pending:
        print(f"{len(pending)} run(s) have {sum(r.pending for r in pending)} tracking calls not in MLflow yet, kept "
              "in their journals on the nodes that ran them; once the server is back, send them from each node:",
              file=sys.stderr)
        for node, root, ids in _pending_by_node(pending):
            where = f"CORE_ARTIFACT_ROOT={root} " if root else ""
            print(f"  on {node}: {where}core sync {' '.join(ids)}", file=sys.stderr)
    if outcome.interrupt:
        print(f"interrupted by {outcome.interrupt}: resume with --resume {outcome.sweep_id}", file=sys.stderr)
    elif outcome.failed:
        print(f"{len(outcome.failed)} run(s) did not finish: rerun them with --resume {outcome.sweep_id}",
              file=sys.stderr)


def _dry_run_search(plan: Any, *, as_json: bool) -> int:
    """A search's runs are chosen as it goes: check its extreme configs and say what it will do."""
    from core._runner import prepare
    from core._sweep.plan import resolve
    from core._sweep.search import probe_overrides

    search = plan.search
    for overrides in probe_overrides(search):
        prepare(resolve(plan, 0, overrides).spec, source=f"{plan.source} (search: {describe(overrides)})")
    settings = {"sampler": search.sampler, "trials": search.trials, "timeout": search.timeout,
                "metric": search.metric, "mode": search.mode, "seed": search.seed, "pruner": search.pruner,
                "pruner_options": search.pruner_options, "startup_trials": search.startup_trials,
                "params": search.params}
    if as_json:
        print_json({"search": settings})
        return 0
    budget = " and ".join(filter(None, [f"{search.trials} trials" if search.trials else "",
                                        f"{search.timeout:g}s" if search.timeout else ""]))
    print(f"sweep {plan.name}: search of plugin '{plan.base.get('plugin')}', sampler {search.sampler}, {budget}, "
          f"pruner {search.pruner}, {search.metric} ({search.mode}) (configs valid at the ends of every range)")
    for key, dist in search.params.items():
        print(f"  {key}: {dist}")
    return 0


def _pending_by_node(rows: list[Any]) -> list[tuple[str, str | None, list[str]]]:
    """(node, its artifact root, run ids) of the runs with pending calls: where `core sync` must run."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for row in rows:
        folder = row.node_folder or row.run_dir
        root = str(Path(folder).parent.parent) if folder and row.node_folder else None
        groups.setdefault((row.node or "?", root), []).append(row.run_id or "?")
    return [(node, root, ids) for (node, root), ids in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


def _first_line(text: str) -> str:
    return (text.splitlines() or [""])[0]


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)
