"""`core sync` and `core ui`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata

from core._commands._output import print_json
from core._errors import BadInput, MissingExtra
from core._records import find_run
from core._redact import scrub
from core._settings import artifact_root, tracking_uri
from core._sync import pending_runs, sync_run
from core._tracking import resolve_target


def sync_command(args: argparse.Namespace) -> int:
    root = artifact_root(args.artifact_root)
    failed: list[str] = []  # runs whose records cannot be read: one line each, and the others are synced
    run_dirs = [find_run(root, rid) for rid in args.run_ids] if args.run_ids else pending_runs(root, failed)
    reports = []
    for run_dir in run_dirs:
        try:
            reports.append(sync_run(run_dir, tracking_uri=args.tracking_uri))
        except Exception as exc:  # one run's corrupt journal or state stops no other run
            if isinstance(exc, BadInput) and args.run_ids and len(run_dirs) == 1:
                raise
            failed.append(f"{run_dir.name}: not synced: {scrub(' '.join(f'{type(exc).__name__}: {exc}'.split()))[:300]}")
    for line in failed:
        print(line, file=sys.stderr)
    if args.json:
        print_json([r.__dict__ | {"sent": dict(r.sent)} for r in reports])
    elif not reports and not failed:
        print(f"nothing to sync in {root}")
    for r in reports if not args.json else ():
        sent = ", ".join(f"{n} {op}" for op, n in sorted(r.sent.items())) or "nothing"
        if r.corrupt_lines:
            lines = ", ".join(map(str, r.corrupt_lines[:10])) + (" ..." if len(r.corrupt_lines) > 10 else "")
            print(f"{r.run_id}: warning: journal line(s) {lines} are corrupt on disk and were skipped; "
                  "every other call was sent", file=sys.stderr)
        if r.skipped:
            print(f"{r.run_id}: skipped ({r.skipped})")
        elif r.ok:
            print(f"{r.run_id}: sent {sent}; MLflow run {r.backend_run_id}")
        else:
            print(f"{r.run_id}: sent {sent}; {r.pending} still pending: {r.error}", file=sys.stderr)
    return 0 if all(r.ok for r in reports) and not failed else 1


def ui_command(args: argparse.Namespace) -> int:
    try:
        metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        raise MissingExtra(caller="core ui (MLflow's web UI)", module="mlflow", extra="ui") from None
    target = resolve_target(tracking_uri(args.tracking_uri), artifact_root=artifact_root(args.artifact_root))
    if target.is_memory:
        print("core: error: the memory tracker keeps nothing to show", file=sys.stderr)
        return 2
    if target.lock_path is not None:  # a local SQLite store: its folder must exist
        target.lock_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", target.uri,
           "--host", args.host, "--port", str(args.port), "--workers", "1"]
    if target.artifact_location:
        cmd += ["--default-artifact-root", target.artifact_location]
    print(f"MLflow UI for {target.uri} at http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
    try:
        # MLflow's server logs as MLflow does (the CLI keeps MLflow's records off its own console).
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_CONFIGURE_LOGGING"}
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
