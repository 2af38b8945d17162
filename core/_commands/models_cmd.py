"""`core models list|show|serve`: MLflow's Model Registry as core's runs fill it (`register:`)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from core._commands._output import print_json, print_table
from core._commands.tracking_cmd import serve_until_stopped
from core._errors import BadInput, MissingExtra, ModelNotFound
from core._models import version_row
from core._settings import artifact_root, tracking_uri
from core._tracking import TrackingTarget, open_backend, public_uri, resolve_target
from core._tracking.backend import TrackingBackend
from core._tracking.model_uri import parse_model_uri


def list_command(args: argparse.Namespace) -> int:
    target = _target(args)
    rows = [version_row(v) for v in _ask(target, lambda backend: backend.model_versions())]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no registered models in {public_uri(target.uri)}")
        return 0
    print_table(["NAME", "VERSION", "ALIASES", "CORE RUN", "PLUGIN", "METRIC", "CREATED"], [_cells(r) for r in rows])
    return 0


def show_command(args: argparse.Namespace) -> int:
    target = _target(args)
    ref = args.model.removeprefix("models:/")
    one = "@" in ref or "/" in ref
    uri = parse_model_uri(f"models:/{ref}" if one else f"models:/{ref}/1")  # its form, before any store is opened

    def versions_of(backend: TrackingBackend) -> list[Any]:
        if one:
            found = backend.find_model(uri)  # ModelNotFound names the aliases and versions there are
            return [v for v in backend.model_versions(found.name) if v.version == found.version] or [found]
        versions = backend.model_versions(ref)
        if not versions:
            names = sorted({str(v.name) for v in backend.model_versions()})
            raise ModelNotFound(f"no registered model '{ref}' in {public_uri(target.uri)} "
                                f"(registered models: {', '.join(names) or 'none'})")
        return versions

    versions = _ask(target, versions_of)
    rows = [version_row(v) for v in versions]
    if args.json:
        print_json(rows[0] if one else rows)
        return 0
    for row in rows:
        print(f"{row['name']} v{row['version']}" + (f"  @{', @'.join(row['aliases'])}" if row["aliases"] else ""))
        for label, key in (("core run", "run_id"), ("mlflow run", "mlflow_run_id"), ("plugin", "plugin"),
                           ("source", "source")):
            print(f"  {label + ':':12}{row[key] or '-'}")
        if row["headline_metric"]:
            print(f"  {'metric:':12}{row['headline_metric']} = {row['headline_value']}")
        print(f"  {'created:':12}{_when(row['created_ms'])}")
        other = {k: v for k, v in row["tags"].items() if k not in ("mlcore.run_id", "plugin", "headline_metric",
                                                                      row["headline_metric"])}
        if other:
            print(f"  {'tags:':12}" + ", ".join(f"{k}={v}" for k, v in sorted(other.items())))
        print(f"  {'load:':12}mlflow.pyfunc.load_model('models:/{row['name']}/{row['version']}')")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    try:
        metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        raise MissingExtra(caller="core models serve (MLflow's scoring server)", module="mlflow", extra="ui") from None
    if not 0 < args.port < 65536:
        raise BadInput(f"--port: {args.port} is not a port (1 to 65535)")
    target = _target(args)
    uri = parse_model_uri(args.uri)
    _ask(target, lambda backend: backend.find_model(uri))  # a missing model is exit 2 now, not a server that dies
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", args.uri, "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(args.port)]
    # The scoring server resolves the URI itself: it must see this store as its tracking and registry.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_CONFIGURE_LOGGING"}
    env["MLFLOW_TRACKING_URI"] = env["MLFLOW_REGISTRY_URI"] = target.uri
    # MLflow starts `uvicorn` by name: this environment's, also when it is not activated (`.venv/bin/core`).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]).rstrip(os.pathsep)
    return serve_until_stopped(cmd, env=env, health_url=f"http://127.0.0.1:{args.port}/ping",
                               starting=f"starting MLflow's scoring server for {args.uri} ...",
                               ready=f"serving {args.uri} at http://127.0.0.1:{args.port}/invocations "
                               "(Ctrl-C to stop)")


def _target(args: argparse.Namespace) -> TrackingTarget:
    target = resolve_target(tracking_uri(args.tracking_uri), artifact_root=artifact_root(args.artifact_root))
    if target.is_memory:
        raise BadInput("the memory tracker keeps no models between processes: use the embedded store or a server")
    if target.sqlite_path is not None and not target.sqlite_path.exists():
        raise ModelNotFound(f"no tracking store at {target.sqlite_path} yet: no model is registered there")
    return target


def _ask(target: TrackingTarget, call: Any) -> Any:
    """One backend call on the target's store; trouble reaching it is one line (exit 1), never a traceback."""
    backend: TrackingBackend | None = None
    try:
        backend = open_backend(target)
        return call(backend)
    except (ModelNotFound, BadInput):
        raise
    except Exception as exc:  # noqa: BLE001 - a store or server that fails: said in one line
        from core._errors import TrackingError
        from core._redact import scrub

        reason = scrub(" ".join(f"{type(exc).__name__}: {exc}".split()))[:300]
        raise TrackingError(f"cannot read the model registry at {public_uri(target.uri)}: {reason}") from None
    finally:
        if backend is not None:
            backend.close()


def _cells(row: dict[str, Any]) -> list[str]:
    metric = row["headline_metric"]
    value = row["headline_value"]
    shown = f"{metric}={value:.4g}" if metric and isinstance(value, float) else (f"{metric}={value}" if metric else "-")
    return [row["name"], row["version"], ", ".join("@" + a for a in row["aliases"]) or "-", row["run_id"] or "-",
            row["plugin"] or "-", shown, _when(row["created_ms"])]


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
