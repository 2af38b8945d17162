"""`core sweep FILE`: expand a sweep file and run it; `--dry-run` lists the runs."""

from __future__ import annotations

import argparse
import sys

from core._commands._output import print_json, print_table
from core._sweep.plan import load_sweep


def sweep_command(args: argparse.Namespace) -> int:
    plan = load_sweep(args.file, overrides=args.overrides, name=args.name)
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
    from core._sweep.driver import run_sweep

    outcome = run_sweep(plan, executor=args.executor, max_workers=args.max_workers, ray_address=args.ray_address,
                        artifact_root=args.artifact_root, tracking_uri=args.tracking_uri, metric=args.metric,
                        mode=args.mode, resume=args.resume, out=sys.stderr if args.json else sys.stdout)
    if args.json:
        print_json({"sweep_id": outcome.sweep_id, "folder": str(outcome.folder), "metric": outcome.metric,
                    "mode": outcome.mode, "interrupted": outcome.interrupt, "parent_run_id": outcome.parent_run_id,
                    "startup_s": outcome.startup_s, "elapsed_s": outcome.elapsed_s, "runs": outcome.rows,
                    "exit_code": outcome.exit_code})
        return outcome.exit_code
    _print_table(outcome)
    return outcome.exit_code


def _print_table(outcome) -> None:  # noqa: ANN001
    metric = outcome.metric
    keys = list(dict.fromkeys(k for row in outcome.rows for k in row["overrides"]))
    header = ["rank", "run id", "status", *[k.removeprefix("data_spec.") for k in keys]] + ([metric] if metric else [])
    rows = []
    for row in outcome.rows:
        value = (row.get("metrics") or {}).get(metric) if metric else None
        rows.append([row.get("rank") or "-", row["run_id"] or "-", row["status"] + (" (earlier)" if row.get("resumed") else ""),
                     *[_show(row["overrides"].get(k)) for k in keys]] + ([_show(value)] if metric else []))
    print()
    print_table(header, rows)
    finished = len(outcome.rows) - len(outcome.failed)
    ranked = f", ranked by {metric} ({outcome.mode})" if metric else ""
    print(f"\n{finished} of {len(outcome.rows)} runs FINISHED{ranked}; {outcome.elapsed_s:.1f}s"
          + (f" (executor start-up {outcome.startup_s:.1f}s)" if outcome.startup_s >= 0.05 else ""))
    print(f"table: {outcome.folder / 'results.csv'} and results.json")
    if outcome.parent_run_id:
        print(f"mlflow: parent run {outcome.parent_run_id}")
    if outcome.interrupt:
        print(f"interrupted by {outcome.interrupt}: resume with --resume {outcome.sweep_id}", file=sys.stderr)
    elif outcome.failed:
        print(f"{len(outcome.failed)} run(s) did not finish: rerun them with --resume {outcome.sweep_id}",
              file=sys.stderr)


def _show(value) -> str:  # noqa: ANN001
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)
