"""`core runs list|show|spec|compare` and `core rerun`: looking at results from the run folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core._commands._output import format_value, print_json, print_table
from core._errors import BadInput, MissingExtra
from core._files import numbers_back, truncated_fields
from core._layout import RUNS_DIR, SWEEPS_DIR
from core._records import (
    RecordStatus,
    RunRecord,
    filter_runs,
    find_run,
    iter_runs,
    list_runs,
    parse_since,
    parse_tag_filters,
    read_run,
)
from core._redact import redacted_fields, scrub
from core._settings import artifact_root
from core._summary import iso
from core.contracts import RunStatus


def list_command(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise BadInput(f"--limit: {args.limit} is not a positive number of runs")
    statuses = [s.value for s in RecordStatus]
    if args.status and args.status.upper() not in statuses:
        raise BadInput(f"--status: unknown status '{args.status}' (allowed: {', '.join(statuses)})")
    root = artifact_root(args.artifact_root)
    since = parse_since(args.since) if args.since else None
    tags = parse_tag_filters(args.tag)
    runs: list[RunRecord] = []
    # Newest first, each summary read only when reached: the newest `--limit` matches are all that is
    # read, however many runs the root holds.
    for record in iter_runs(root):
        if record.damaged:  # listed as UNKNOWN; why, once each
            print(f"{record.run_id}: {record.problem}", file=sys.stderr)
        runs += filter_runs([record], plugin=args.plugin, status=args.status, tags=tags, since=since)
        if len(runs) >= args.limit:
            break
    if args.json:
        print_json([_brief(r) for r in runs])
        return 0
    if not runs:
        print(f"no runs in {root}" + (" match" if args.plugin or args.status or args.tag or args.since else ""))
        return 0
    rows = [[r.run_id, r.plugin, r.name, r.display_status, (iso(r.started) or "")[:19].replace("T", " "),
             _duration(r.duration_s), "  ".join(f"{k}={_num(v)}" for k, v in r.headline().items())] for r in runs]
    print_table(["RUN ID", "PLUGIN", "NAME", "STATUS", "STARTED (UTC)", "DURATION", "METRICS"], rows)
    dead = [r for r in runs if r.display_status is RecordStatus.DEAD]
    if dead:
        print(f"\n{len(dead)} run(s) DEAD: recorded RUNNING, but the process is gone (killed, or the machine "
              "stopped). Their journaled metrics are kept.", file=sys.stderr)
    return 0


def show_command(args: argparse.Namespace) -> int:
    run = _load(args, args.run_id)
    remote = _kept_elsewhere(run)
    if remote and args.fetch:  # its folder is on the node that ran it: bring it from the tracking server first
        from core._sweep.fetch import fetch_run

        fetched = fetch_run(artifact_root(args.artifact_root), run.run_id)
        print(f"run {fetched.run_id}: {fetched.files} files fetched into {fetched.folder}", file=sys.stderr)
        run, remote = read_run(fetched.folder), False
    if args.json:
        print_json(_brief(run) | {"params": run.params, "metrics": run.metrics, "tags": run.tags,
                                  "artifacts": [{"path": p, "bytes": n} for p, n in run.artifacts()],
                                  "summary": run.summary.to_json() if run.summary else None,
                                  "folder_here": not remote})
        return 0
    s = run.summary
    print(f"run {run.run_id}  {run.display_status}")
    if run.damaged:
        print(f"  ({run.problem})")
    if run.display_status is RecordStatus.DEAD:
        print("  (recorded RUNNING, but its process is gone: killed, or its machine stopped)")
    for label, value in (("plugin", run.plugin), ("name", run.name), ("started", iso(run.started)),
                         ("ended", iso(s.ended_at) if s else None), ("duration", _duration(run.duration_s)),
                         ("folder", _elsewhere(run) if remote else run.run_dir)):
        if value:
            print(f"  {label + ':':10} {value}")
    tracking = s.tracking if s else None
    if tracking and tracking.run_id:
        print(f"  {'mlflow:':10} run {tracking.run_id} in {tracking.uri}"
              + (f" ({tracking.pending} calls pending: core sync {run.run_id})" if tracking.pending else ""))
    if run.error:
        print(f"\nerror: {run.error}\n  details: "
              + (f"in its folder (core runs show {run.run_id} --fetch)" if remote else str(run.layout.exception)))
    for title, mapping, fmt in (("outputs", dict(s.outputs) if s else {}, _num), ("metrics", run.metrics, _num),
                                ("params", run.params, str), ("tags", run.tags, str)):
        if mapping:
            print(f"\n{title}:")
            width = max(len(k) for k in mapping)
            for key in sorted(mapping):
                print(f"  {key:<{width}}  {fmt(mapping[key])}")
    files = [] if remote else run.artifacts()
    if files:
        print("\nfiles:")
        for path, size in files:
            print(f"  {path}  ({_bytes(size)})")
    return 0


def compare_command(args: argparse.Namespace) -> int:
    if len(args.run_ids) < 2:
        raise BadInput("compare needs at least two run ids")
    from core._compare import differing_params, metric_table

    runs = [_load(args, rid) for rid in args.run_ids]
    params = differing_params(runs)
    metrics = metric_table(runs)
    plot = _plot(runs, args.plot, args.output, root=artifact_root(args.artifact_root)) if args.plot else None
    if args.json:
        print_json({"runs": [r.run_id for r in runs], "differing_params": params, "metrics": metrics,
                    "plot": str(plot) if plot else None})
        return 0
    header = ["", *[r.run_id for r in runs]]
    print("params that differ:" if params else "params: all the same")
    if params:
        print_table(header, [[k, *[("-" if v is None else v) for v in values]] for k, values in params.items()])
    print("\nmetrics (* best):" if metrics else "\nno metrics")
    rows = []
    for key, row in metrics.items():
        cells = [("-" if v is None else _num(v)) + (" *" if i == row["best"] else "") for i, v in enumerate(row["values"])]
        rows.append([key, *cells])
    if rows:
        print_table(header, rows)
    if plot:
        print(f"\nplot: {plot}")
    return 0


def repair_command(args: argparse.Namespace) -> int:
    from core._repair import needs_repair, repair_run

    root = artifact_root(args.artifact_root)
    reports, failed = [], []
    if args.run_ids:
        dirs = [find_run(root, rid) for rid in args.run_ids]
    else:
        dirs = []
        for record in list_runs(root):
            try:
                if needs_repair(record):
                    dirs.append(record.run_dir)
            except Exception as exc:  # noqa: BLE001 - a record that cannot even be judged: reported, the rest go on
                failed.append(f"{record.run_id}: not repaired: {_reason(exc)}")
    for run_dir in dirs:  # one run that cannot be repaired (a corrupt journal, a folder it cannot read) stops no other
        try:
            reports.append(repair_run(run_dir, tracking_uri=args.tracking_uri))
        except Exception as exc:  # noqa: BLE001 - reported on one line; the other runs are repaired
            failed.append(f"{run_dir.name}: not repaired: {_reason(exc)}")
    for line in failed:
        print(line, file=sys.stderr)
    if args.json:
        print_json([r.__dict__ for r in reports])
    elif not reports and not failed:
        print(f"no DEAD runs in {root}")
    for r in reports if not args.json else ():
        if not r.repaired:
            print(f"{r.run_id}: {r.reason}")
        elif r.pending:
            print(f"{r.run_id}: {r.reason} on disk; {r.pending} tracking calls still pending ({r.error}): "
                  f"core sync {r.run_id}", file=sys.stderr)
        elif not r.tracked:
            print(f"{r.run_id}: {r.reason} on disk; it never reached tracking (its journal has no start)")
        else:
            print(f"{r.run_id}: {r.reason} on disk and in tracking; every journaled call sent")
    return 0 if all(r.pending == 0 for r in reports) and not failed else 1


def spec_command(args: argparse.Namespace) -> int:
    """The run's resolved spec (as `core run` ran it: the sweep's values in place, the seed it used) as a
    spec file: the way from a sweep's best run to a run of its own, or to a new sweep around it."""
    import yaml

    run = _load(args, args.run_id)
    if run.summary is None or not run.summary.spec:
        raise BadInput(f"run {run.run_id} has no recorded spec: {run.problem or 'its summary has none'}")
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.suffix.lower() not in (".yaml", ".yml") or out.name.startswith("."):
            raise BadInput(f"--output: {out} must be a file name ending in .yaml or .yml (a spec file `core run` "
                           "reads as YAML)")
        if out.exists() and not args.force:
            raise BadInput(f"--output: {out} exists (another run's spec, or a sweep file?): give another name, "
                           "or --force to replace it")
    recorded = numbers_back(dict(run.summary.spec))
    spec = _own_spec(recorded)
    headline = ", ".join(f"{k}={_num(v)}" for k, v in run.headline().items())
    text = (f"# the resolved spec of run {run.run_id} ({run.display_status}{', ' + headline if headline else ''}):"
            f"\n#   core run THIS_FILE\n" + yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))
    if out is not None:
        from core._files import atomic_write_text

        try:
            atomic_write_text(out, text)
        except OSError as exc:
            raise BadInput(f"--output: cannot write {out}: {exc.strerror or exc}") from None
        print(f"wrote {out}: core run {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for gap in _record_gaps(run, recorded):
        print(f"warning: run {run.run_id}'s spec {gap}: this is not the spec it ran with; put them back before "
              "running it", file=sys.stderr)
    return 0


def rerun_command(args: argparse.Namespace) -> int:
    from core._compare import reproduction_verdict
    from core._runner import run as run_spec
    from core.contracts import RunSpec

    original = _load(args, args.run_id)
    if original.status is not RecordStatus.FINISHED or original.summary is None:
        raise BadInput(f"run {original.run_id} ended {original.display_status}: only a FINISHED run's result "
                       "can be reproduced")
    recorded = numbers_back(dict(original.summary.spec))
    gaps = _record_gaps(original, recorded)
    if gaps:
        raise BadInput(f"run {original.run_id}'s spec {'; '.join(gaps)}: rerun it from its spec file with `core run`")
    own = _own_spec(recorded)
    own.pop("register", None)  # a rerun checks the result; it registers no model
    spec = RunSpec(**own | {"tags": {**own.get("tags", {}), "rerun_of": original.run_id}})
    if not args.json:
        print(f"rerunning {original.run_id} ({spec.plugin}, seed {spec.seed}) ...", file=sys.stderr)
    outcome = run_spec(spec, artifact_root=args.artifact_root, tracking_uri=args.tracking_uri)
    rerun = read_run(outcome.run_dir)
    if outcome.status is not RunStatus.FINISHED:
        verdict_text = f"not reproduced: the rerun {outcome.run_id} ended {outcome.status.value} ({outcome.error})"
        if args.json:
            print_json({"original": original.run_id, "rerun": outcome.run_id, "reproduced": False,
                        "error": outcome.error})
        else:
            print(verdict_text)
        return 1
    verdict = reproduction_verdict(original, rerun, rtol=args.rtol, atol=args.atol)
    if args.json:
        print_json({"original": original.run_id, "rerun": rerun.run_id, "rtol": args.rtol, "atol": args.atol,
                    "metrics_compared": len(original.metrics)} | verdict.to_dict())
        return 0 if verdict.reproduced else 1
    if verdict.reproduced:
        print(f"reproduced: run {rerun.run_id} matches {original.run_id} on all {len(original.metrics)} metrics "
              f"(rtol {args.rtol:g}, atol {args.atol:g})")
    else:
        print(f"not reproduced: run {rerun.run_id} differs from {original.run_id} on "
              f"{len(verdict.differing)} of {len(set(original.metrics) | set(rerun.metrics))} metrics")
        rows = [[k, _num(d["original"]), _num(d["rerun"]), _num(d["abs_diff"])] for k, d in verdict.differing.items()]
        print_table(["metric", "original", "rerun", "|diff|"], rows)
    if verdict.environment:
        print("\nenvironment differences" + ("" if verdict.reproduced else " that might explain it") + ":")
        print_table(["what", "original", "rerun"], [[k, a, b] for k, (a, b) in verdict.environment.items()])
    elif not verdict.reproduced:
        print("\nsame environment (Python, platform, packages): the plugin is not deterministic under its seed")
    return 0 if verdict.reproduced else 1


def _plot(runs: list[RunRecord], metric: str, output: str | None, *, root: Path) -> Path:
    """A PNG of `metric` across the runs: its history as lines where some run logged it at several
    steps, else one bar per run (a final test metric has no history to draw). Written to `output`,
    else into the artifact root's `comparisons/` (a comparison belongs to no single run, and a run's
    folder is the record of what that run wrote), never the working directory."""
    histories = [(r.run_id, r.histories().get(metric)) for r in runs]
    if not any(points for _, points in histories):
        raise BadInput(f"--plot: no run logged the metric '{metric}'")
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(caller="core runs compare --plot", module="matplotlib", extra="plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stepped = any(len({step for step, _ in points}) > 1 for _, points in histories if points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if stepped:
        for run_id, points in histories:
            if points:
                steps, values = zip(*sorted(points))
                ax.plot(steps, values, marker="o" if len(points) <= 50 else None, markersize=3, label=run_id)
        ax.set(xlabel="step", ylabel=metric, title=f"{metric} across {len(runs)} runs")
        ax.legend(fontsize="small")
    else:
        names = [run_id for run_id, points in histories if points]
        values = [sorted(points)[-1][1] for _, points in histories if points]
        bars = ax.bar(range(len(names)), values, color="#4c72b0")
        ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize="small")
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize="small")
        ax.set(ylabel=metric, title=f"{metric} across {len(names)} runs")
    fig.tight_layout()
    if output:
        path = Path(output)
    else:
        path = root / "comparisons" / f"{metric}_{runs[0].run_id}_{runs[-1].run_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _own_spec(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded spec as the run's own (`RunSpec`'s fields, the unset ones left out): without the tags a
    sweep or a rerun added."""
    spec: dict[str, Any] = {"plugin": recorded.get("plugin")}
    for key in ("name", "experiment", "seed"):
        if recorded.get(key) is not None:
            spec[key] = recorded[key]
    tags = _own_tags(recorded.get("tags") or {})
    if tags:
        spec["tags"] = tags
    spec["data_spec"] = recorded.get("data_spec") or {}
    if recorded.get("register") is not None:
        spec["register"] = recorded["register"]
    return spec


def _record_gaps(run: RunRecord, recorded: dict[str, Any]) -> list[str]:
    """What the record does not hold as the run had it, one phrase each: the fields its summary names
    as redacted (a URI's credentials leave no mark in the value; for summaries written before it named
    them, the fields that read as redacted), and where a spec too big to record whole was cut."""
    summary = run.summary
    hidden = list(dict.fromkeys([*(summary.spec_redacted if summary else ()), *redacted_fields(recorded)]))
    cut = truncated_fields(recorded)
    return ([f"had credentials, recorded redacted ({', '.join(hidden)})"] if hidden else []) + \
        ([f"was too big to record whole (cut at {', '.join(cut)})"] if cut else [])


def _own_tags(tags: dict[str, str]) -> dict[str, str]:
    """The spec's own tags, without the links a sweep or `core rerun` added (a rerun is no child of that
    sweep; a run from `core runs spec` is no rerun)."""
    return {k: v for k, v in tags.items() if not k.startswith(("mlflow.", "mlcore.sweep")) and k != "rerun_of"}


def _reason(exc: BaseException) -> str:
    """An error as one line, credentials scrubbed."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return scrub(text)[:300]


def _kept_elsewhere(run: RunRecord) -> bool:
    """The run ran on another node (a Ray sweep): only the summary its task returned is here."""
    return run.run_dir.parent.name == RUNS_DIR and run.run_dir.parent.parent.parent.name == SWEEPS_DIR


def _elsewhere(run: RunRecord) -> str:
    host = run.summary.host if run.summary and run.summary.host else "the node that ran it"
    return (f"on {host}, in tracking; only its summary is here ({run.run_dir}): core runs show {run.run_id} --fetch "
            "(or core runs fetch) brings the folder from the tracking server")


def _load(args: argparse.Namespace, run_id: str) -> RunRecord:
    return read_run(find_run(artifact_root(args.artifact_root), run_id, held=True))


def _brief(r: RunRecord) -> dict[str, Any]:
    return {"run_id": r.run_id, "plugin": r.plugin, "name": r.name, "status": r.status,
            "display_status": r.display_status, "alive": r.alive, "started_at": iso(r.started),
            "duration_s": r.duration_s, "headline": r.headline(), "run_dir": str(r.run_dir), "error": r.error}


def _num(value: Any) -> str:
    return format_value(value)  # as `core run` prints them: 4 significant digits


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
