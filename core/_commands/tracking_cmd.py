"""`core sync` and `core ui`."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib import metadata

from core._commands._output import print_json
from core._errors import BadInput, MissingExtra
from core._models import describe
from core._records import find_run
from core._redact import scrub
from core._settings import artifact_root, tracking_uri
from core._sync import pending_runs, sync_run
from core._tracking import public_uri, resolve_target


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
        sent = ", ".join(_count(n, op) for op, n in sorted(r.sent.items(), key=lambda kv: _ORDER.get(kv[0], 99))) \
            or "nothing"
        if r.corrupt_lines:
            lines = ", ".join(map(str, r.corrupt_lines[:10])) + (" ..." if len(r.corrupt_lines) > 10 else "")
            rest = "every other call was sent" if r.ok else "the others are as below"
            if r.rebuilt_start:
                rest = "the run's start was rebuilt from its summary; " + rest
            print(f"{r.run_id}: warning: journal line(s) {lines} are corrupt on disk: those calls are lost; {rest}",
                  file=sys.stderr)
        if r.skipped:
            print(f"{r.run_id}: skipped ({r.skipped})")
        elif r.ok:
            folder = "; and its whole run folder (kept on this node)" if r.folder_sent else ""
            print(f"{r.run_id}: sent {sent}{folder}; MLflow run {r.backend_run_id}")
        else:
            print(f"{r.run_id}: sent {sent}; {r.pending} still pending: {r.error}", file=sys.stderr)
        if r.registered and not r.skipped:
            print(f"  registered: {describe(r.registered)}")
    # A call lost to a corrupt journal line is not a clean sync, even with all the rest sent.
    return 0 if all(r.ok and not r.corrupt_lines for r in reports) and not failed else 1


#: journal records as a person counts them ("sent 1 start, 40 metric points, 4 artifacts, 1 end")
_NOUNS = {"start": ("start", "starts"), "params": ("param batch", "param batches"),
          "tags": ("tag batch", "tag batches"), "metric": ("metric point", "metric points"),
          "artifact": ("artifact", "artifacts"), "outcome": ("outcome", "outcomes"),
          "register": ("model registration", "model registrations"), "end": ("end", "ends")}
_ORDER = {op: i for i, op in enumerate(_NOUNS)}


def _count(n: int, op: str) -> str:
    one, many = _NOUNS.get(op, (op, op))
    return f"{n} {one if n == 1 else many}"


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
    # MLflow's server logs as MLflow does (the CLI keeps MLflow's records off its own console).
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_CONFIGURE_LOGGING"}
    return serve_until_stopped(cmd, env=env, health_url=f"http://{args.host}:{args.port}/health",
                               starting=f"starting MLflow's UI for {public_uri(target.uri)} ...",
                               ready=f"MLflow UI at http://{args.host}:{args.port} (Ctrl-C to stop)")


def serve_until_stopped(cmd: list[str], *, env: dict[str, str], health_url: str, starting: str, ready: str,
                        start_timeout_s: float = 180.0) -> int:
    """Run a server child until it exits or this process is told to stop.

    Says `starting` at once and `ready` only once `health_url` answers (MLflow's server takes
    seconds to import). The child runs in its own process group so that a SIGTERM or Ctrl-C
    here is passed to all of it (gunicorn/uvicorn workers included) and waited for: stopping
    this command never leaves a server holding the port.
    """
    print(starting, file=sys.stderr, flush=True)
    stop: list[int] = []

    def note(signum: int, _frame: object) -> None:
        stop.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    child = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        deadline, announced, timed_out = time.monotonic() + start_timeout_s, False, False
        while child.poll() is None and not stop:
            if not announced:
                if _answers(health_url):
                    print(ready, file=sys.stderr, flush=True)
                    announced = True
                elif time.monotonic() > deadline:
                    print(f"core: error: the server did not answer {health_url} within {start_timeout_s:.0f} s",
                          file=sys.stderr)
                    timed_out = True
                    break
            time.sleep(0.25)
        if child.poll() is None:
            _stop_group(child)
            return 1 if timed_out else 0  # stopped as asked
        return child.returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM to the child's whole process group, then SIGKILL if it has not ended in 15 s."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass
        try:
            child.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # workers the server forked may outlive their parent for a moment
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def service_status_command(args: argparse.Namespace) -> int:
    """`core tracking status`: the artifact root's tracking services, and how each is."""
    from core._commands._output import print_table
    from core._tracking import service_admin, service_client

    root = artifact_root(args.artifact_root)
    found = service_admin.services(root)
    if args.json:
        print_json({"enabled": service_client.enabled(), "services": [s.to_dict() for s in found]})
        return 0
    if not service_client.enabled():
        print(f"the tracking service is off (${service_client.SERVICE_ENV}): runs send in-process")
    if not found:
        print(f"no tracking service in {root}")
        return 0
    print_table(["pid", "stores", "state", "clients", "calls", "idle", "tracking"],
                [[s.pid, _or_dash(s.stores), s.state, _or_dash(s.clients), _or_dash(s.calls),
                  f"{s.idle_s:.0f}s of {s.idle_timeout_s:.0f}s" if s.idle_s is not None and s.idle_timeout_s else "-",
                  s.uri] for s in found])
    return 0


def service_stop_command(args: argparse.Namespace) -> int:
    """`core tracking stop`: every tracking service of the artifact root stopped (by its pid, checked)."""
    from core._tracking import service_admin

    root = artifact_root(args.artifact_root)
    found = [s for s in service_admin.services(root) if s.state != "gone"]
    results = [(s, service_admin.stop(s)) for s in found]
    if args.json:
        print_json([{"pid": s.pid, "uri": s.uri, "stopped": ok} for s, ok in results])
    elif not results:
        print(f"no tracking service running in {root}")
    for s, ok in results if not args.json else ():
        others = (s.stores or 1) - 1
        still = f" (its process goes on serving {others} other store{'s' if others > 1 else ''})" if ok and others else ""
        print(f"tracking service {s.pid} ({s.uri}): {'stopped' if ok else 'still running'}{still}")
    return 0 if all(ok for _, ok in results) else 1


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)
