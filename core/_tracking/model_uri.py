"""MLflow Model URIs as core takes them (`context.model`, `core models show|serve`), and what a backend
says about a model version. Pure Python: checked before any backend is opened.

- `runs:/<mlflow run id>/<artifact path>`: a model logged in a run (a family logs at `model`);
- `models:/NAME@ALIAS`: the registered version an alias points at;
- `models:/NAME/VERSION`: one registered version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core._errors import ModelNotFound

URI_FORMS = ("runs:/<mlflow run id>/model", "models:/NAME@ALIAS", "models:/NAME/VERSION")
#: registered model names core makes (`register:`): they travel inside `models:/` URIs and file names
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$")
#: MLflow's alias rule (word characters and '-'), less the names MLflow refuses: `latest`, `v<digits>`
ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
#: names a URI may carry (MLflow allows more than core makes, spaces included; not '/', '@' or quotes)
_URI_NAME_RE = re.compile(r"^[^/@\s'\"][^/@'\"]{0,249}$")


def alias_problem(alias: str) -> str | None:
    """Why `alias` cannot be an MLflow alias, or None."""
    if not ALIAS_RE.match(alias):
        return "letters, digits, '_' and '-' only"
    if alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        return "MLflow reserves 'latest' and version-like names (v1, v2, ...)"
    return None


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed model URI: `run_id` and `path` for `runs:/`, `name` and `alias` or `version` for `models:/`."""

    uri: str
    run_id: str | None = None
    path: str | None = None
    name: str | None = None
    alias: str | None = None
    version: str | None = None

    @property
    def registered(self) -> bool:
        return self.name is not None


def parse_model_uri(uri: object) -> ModelUri:
    """The URI's parts, or `ModelNotFound` (exit 2) naming it and the forms core takes."""
    text = uri if isinstance(uri, str) else repr(uri)
    bad = ModelNotFound(f"'{text}' is not an MLflow Model URI (allowed: {', '.join(URI_FORMS)})")
    if not isinstance(uri, str):
        raise bad
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].partition("/")
        parts = path.strip("/").split("/")
        if not _RUN_ID_RE.match(run_id) or not path.strip("/") or any(p in ("", ".", "..") for p in parts):
            raise bad
        return ModelUri(uri, run_id=run_id, path="/".join(parts))
    if uri.startswith("models:/"):
        rest = uri[len("models:/"):]
        if "@" in rest:
            name, _, alias = rest.partition("@")
            if _URI_NAME_RE.match(name) and ALIAS_RE.match(alias):
                return ModelUri(uri, name=name, alias=alias)
        else:
            name, _, version = rest.partition("/")
            if _URI_NAME_RE.match(name) and re.fullmatch(r"[1-9][0-9]{0,9}", version):
                return ModelUri(uri, name=name, version=version)
    raise bad


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """What a backend knows of a model: a registered version (`name`, `version`, its `aliases`), or,
    for a `runs:/` URI, the logged model alone. `run_id` is the core run that logged it (its
    `mlcore.run_id` tag), `mlflow_run_id` the MLflow run; `source` the artifacts' location."""

    source: str
    name: str | None = None
    version: str | None = None
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    mlflow_run_id: str | None = None
    artifact_path: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    created_ms: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "aliases": list(self.aliases), "run_id": self.run_id,
                "mlflow_run_id": self.mlflow_run_id, "source": self.source, "tags": dict(self.tags),
                "created_ms": self.created_ms}


def missing(uri: str, what: str, known: list[str] | tuple[str, ...], kind: str) -> ModelNotFound:
    """`ModelNotFound` for `uri`: `what` is missing, and these `known` `kind` exist (at most ten named)."""
    shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
    return ModelNotFound(f"{uri}: {what} ({kind}: {shown or 'none'})")
