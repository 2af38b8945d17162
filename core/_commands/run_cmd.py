"""`core run` and `core validate`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from core._commands._output import format_value, print_json
from core._layout import runs_dir
from core._models import describe
from core._redact import redact
from core._runner import RunOutcome, check_run_inputs, new_run_id, outcome_of, prepare, run
from core._settings import artifact_root as resolve_root
from core._settings import tracking_uri as resolve_uri
from core._spec import load_spec, parse_register
from core._supervise import supervise
from core._tracking.target import resolve_target


def run_command(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, overrides=args.overrides, seed=args.seed)
    if getattr(args, "register", None) is not None:  # the flag wins over the spec's `register:` (its tags kept)
        asked = parse_register(args.register, source="--register")
        spec = replace(spec, register=asked | {"tags": dict((spec.register or {}).get("tags") or {})})
    run_id = new_run_id()

    def run_and_print() -> int:
        return print_outcome(args, run(
            spec,
            artifact_root=args.artifact_root,
            tracking_uri=args.tracking_uri,
            offline=args.offline,
            source=args.spec,
            strict=args.strict_names,
            run_id=run_id,
        ))

    if not getattr(args, "entry_point", False):  # `core.cli.main` called from Python: no second process
        return run_and_print()
    # The run in a child process, so that a run whose process ends without ending it (`os._exit`,
    # a crash in native code, the OOM killer) is still ended and reported truthfully (`_supervise`).
    run_dir = runs_dir(resolve_root(args.artifact_root)) / run_id
    return supervise(run_and_print, run_dir=run_dir, tracking_uri=args.tracking_uri,
                     report=lambda summary: print_outcome(args, outcome_of(summary, run_dir)))


def print_outcome(args: argparse.Namespace, outcome: RunOutcome) -> int:
    """What `core run` prints of an outcome (`--json`: one object); returns its exit code."""
    recorded = outcome.summary.to_json()  # what the record says: JSON-safe, credentials redacted
    tracking = recorded["tracking"]
    if args.json:
        print_json(
            {
                "run_id": outcome.run_id,
                "status": outcome.status.value,
                "outputs": recorded["outputs"],
                "run_dir": str(outcome.run_dir),
                "error": outcome.error,
                "tracking": tracking,
                "registered": recorded.get("registered"),
                "exit_code": outcome.exit_code,
            }
        )
    else:
        out = sys.stdout
        took = outcome.summary.duration_s
        print(f"run {outcome.run_id} {outcome.status.value}" + (f" in {took:.2f}s" if took is not None else ""), file=out)
        if outcome.error:
            print(f"  error:   {outcome.error}", file=out)
            print(f"  details: {outcome.run_dir / 'errors' / 'exception.txt'}", file=out)
        for key, value in recorded["outputs"].items():
            print(f"  {key}: {format_value(value)}", file=out)
        print(f"  folder:  {outcome.run_dir}", file=out)
        if tracking.get("run_id"):
            print(f"  mlflow:  run {tracking['run_id']} in {tracking.get('uri')}", file=out)
        if tracking.get("pending"):
            print(f"  pending: {tracking['pending']} tracking calls (send with: core sync {outcome.run_id})", file=out)
        if recorded.get("registered"):
            print(f"  registered: {describe(recorded['registered'])}", file=out)
    return outcome.exit_code


def validate_command(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, overrides=args.overrides, seed=args.seed)
    plugin = prepare(spec, source=args.spec)
    root = resolve_root(args.artifact_root)
    check_run_inputs(plugin, spec, root=root, target=resolve_target(resolve_uri(args.tracking_uri), artifact_root=root),
                     source=args.spec)
    if args.json:
        print_json(redact(spec.to_dict()))
    else:
        print(f"{args.spec}: valid spec for plugin '{plugin.info.key}'")
    return 0
