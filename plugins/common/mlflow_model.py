"""MLflow Models that leave the run, for every family: the `score:` section's `model_uri`, the
folder a trained run's MLflow Model is saved to and how it is logged, its pip requirements, and
reading one back for scoring.

A trained run saves its MLflow Model locally (`mlflow.<flavour>.save_model`, no tracking call)
into `models/mlflow_model/` and logs that folder through `context.tracking` at artifact path
`model`, so it is `runs:/<mlflow run id>/model` and goes through core's journal like every other
artifact (offline runs and `core sync` keep working). Plugins never call `mlflow.log_model` or
start MLflow runs: core owns the run.

Pure Python at import (`core plugins list` imports this module's importers): mlflow, pandas and
the flavours are imported inside the functions the run path calls.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from core import ResolvedModel, RunContext, RunInput, SpecError
from plugins.common.fields import only_fields, run_id
from plugins.common.files import MLFLOW_MODEL

MODEL_DIR = Path("models") / MLFLOW_MODEL  # the MLflow Model, inside the run folder
ARTIFACT_PATH = "model"  # where it is logged: runs:/<mlflow run id>/model
INPUT_EXAMPLE_ROWS = 5
# Keys of the MLflow Model's `metadata` (in its MLmodel file): which plugin made it, for what task.
META_PLUGIN, META_TASK, META_RUN = "mlcore_plugin", "mlcore_task", "mlcore_run_id"

# runs:/<mlflow run id>/<artifact path>, models:/NAME@ALIAS, models:/NAME/VERSION: what `context.model` takes.
_MODEL_URI = re.compile(r"^(?:runs:/[^/\s]+/\S+|models:/[^/@\s][^/@]*(?:@[\w-]+|/[1-9][0-9]*))$")
MODEL_URI_FORMS = ("runs:/<mlflow run id>/model", "models:/NAME@ALIAS", "models:/NAME/VERSION")
LOG_MODEL_HELP = "save an MLflow Model and log it at artifact path model (false: faster sweeps)"


def model_uri(value: Any, field_name: str) -> str:
    """An MLflow Model URI, checked for its form only (whether it exists is core's check, `inputs`)."""
    if not isinstance(value, str) or not _MODEL_URI.match(value):
        raise SpecError(f"must be an MLflow Model URI, got {value!r}", field=field_name, allowed=MODEL_URI_FORMS)
    return value


def score_source(cfg: Mapping[str, Any], where: str, *, required: bool,
                 purpose: str) -> tuple[str | None, str | None]:
    """`(run_id, model_uri)` of a `score:` section: exactly one of them when `required`, never both."""
    only_fields(cfg, ("run_id", "model_uri"), where)
    rid = run_id(cfg, where, required=False, purpose=purpose)
    uri = cfg.get("model_uri")
    uri = None if uri is None else model_uri(uri, f"{where}.model_uri")
    if rid is not None and uri is not None:
        raise SpecError("give run_id or model_uri, not both", field=where)
    if required and rid is None and uri is None:
        raise SpecError(f"is required ({purpose}), or model_uri (an MLflow Model: {', '.join(MODEL_URI_FORMS)})",
                        field=f"{where}.run_id")
    return rid, uri


def score_inputs(score_run_id: str | None, score_model_uri: str | None, *, model_file: str | Path) -> tuple[RunInput, ...]:
    """What a score run needs, for `Plugin.inputs`: the training run's `model_file`, or the MLflow Model."""
    if score_run_id is not None:
        return (RunInput(field="data_spec.score.run_id", run_id=score_run_id, path=Path(model_file).as_posix()),)
    if score_model_uri is not None:
        return (RunInput(field="data_spec.score.model_uri", model_uri=score_model_uri),)
    return ()


def save_and_log(context: RunContext, save: Callable[[Path], None]) -> Path:
    """`save(folder)` writes the MLflow Model (a `save_model` call) into the run's `models/mlflow_model/`,
    which is then logged at artifact path `model`. Returns the folder."""
    folder = context.artifact_dir / MODEL_DIR
    if folder.exists():  # save_model refuses a folder that exists (a salvage after a failed save)
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _no_requirement_scan():
        save(folder)
    context.tracking.log_artifacts(folder, artifact_path=ARTIFACT_PATH)
    return folder


@contextlib.contextmanager
def _no_requirement_scan() -> Iterator[None]:
    """While saving, skip MLflow's check of the model's pip requirements against the environment:
    to warn about a mismatch it maps every installed file to its distribution
    (`packages_distributions`), 3 of a sklearn run's extra 3.3 s in a full environment, and here
    it cannot fire: every pin is read from the installed version (`pip_requirements`). Where
    MLflow moves that function, nothing is skipped."""
    from mlflow.utils import environment

    original = getattr(environment, "warn_dependency_requirement_mismatches", None)
    if original is None:
        yield
        return
    environment.warn_dependency_requirement_mismatches = lambda requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = original


def tabular_frame(X: Any, feature_names: list[str], categorical: list[int]) -> Any:
    """Tabular rows (a numpy array) as a tabular MLflow Model takes them: a pandas DataFrame with one
    column per feature, numbers as floats, categories as strings."""
    import pandas as pd

    return pd.DataFrame({name: (X[:, i].astype(str) if i in categorical else X[:, i].astype(float))
                         for i, name in enumerate(feature_names)})


def metadata(context: RunContext, *, plugin: str, task: str) -> dict[str, str]:
    return {META_PLUGIN: plugin, META_TASK: task, META_RUN: context.run_id}


def pip_requirements(extra: str) -> list[str]:
    """The distributions `mlcore[<extra>]` installs (read from mlcore's own metadata, so they follow
    pyproject.toml), pinned at the versions this run used; MLflow adds its own pin.

    mlcore itself is not listed (it is not on a package index): the loading environment has it
    installed, because the pyfunc classes and the family code they call are imported from the
    installed `plugins` package (cloudpickle pickles them by reference) rather than copied in with
    `code_paths`, which would put a second, possibly stale, `plugins` (and no `core`) on the path.
    """
    from importlib import metadata as md

    try:
        declared = md.requires("mlcore") or []
    except md.PackageNotFoundError:
        return []
    pins = []
    for line in declared:
        # `numpy>=1.24; extra == "sklearn"`: read here rather than with `packaging`, which core does not declare.
        name, _, marker = line.partition(";")
        extras = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if extra not in extras:
            continue
        dist = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", name)
        try:
            version = md.version(dist.group(1)) if dist else None
        except md.PackageNotFoundError:
            continue
        if version:
            # A local version label (torch's `2.13.0+cpu`) names a build no package index serves.
            pins.append(f"{dist.group(1)}=={version.split('+')[0]}")
    return sorted(set(pins))


def pins(*distributions: str) -> list[str]:
    """`name==version` of installed distributions (local version labels dropped)."""
    from importlib import metadata as md

    out = []
    for name in distributions:
        try:
            out.append(f"{name}=={md.version(name).split('+')[0]}")
        except md.PackageNotFoundError:
            continue
    return out


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The MLmodel file of an MLflow Model folder (YAML), without importing mlflow."""
    import yaml

    path = folder / "MLmodel"
    if not path.is_file():
        raise SpecError(f"'{folder}' is not an MLflow Model (no MLmodel file)", field="data_spec.score.model_uri")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def check_made_by(model: ResolvedModel, *, plugins: tuple[str, ...], task: str | None = None) -> dict[str, Any]:
    """The resolved model's MLmodel, checked to come from one of `plugins` (and for `task`): a model
    of another family is bad input naming the URI, not a traceback halfway through scoring."""
    info = read_mlmodel(Path(model.path))
    meta = info.get("metadata") or {}
    made_by = meta.get(META_PLUGIN)
    if made_by not in plugins:
        raise SpecError(f"{model.uri} was not logged by {' or '.join(plugins)} (its plugin: {made_by or 'unknown'})",
                        field="data_spec.score.model_uri", allowed=plugins)
    if task is not None and meta.get(META_TASK) != task:
        raise SpecError(f"{model.uri} was trained for {meta.get(META_TASK)}, this spec says {task}",
                        field="data_spec.score.model_uri")
    return info


def artifact_file(model: ResolvedModel, info: Mapping[str, Any], name: str) -> Path:
    """A pyfunc artifact's local path inside the resolved MLflow Model (`artifacts/<file>`)."""
    artifacts = (info.get("flavors", {}).get("python_function", {}) or {}).get("artifacts", {}) or {}
    rel = (artifacts.get(name) or {}).get("path")
    if not rel:
        raise SpecError(f"{model.uri} has no artifact '{name}'", field="data_spec.score.model_uri")
    return Path(model.path) / rel


def source_tags(model: ResolvedModel) -> dict[str, str]:
    """The tags a run scored from an MLflow Model sets: the URI, the resolved version (the MLflow
    run id for a `runs:/` URI) and, where known, the core run that trained it."""
    tags = {"source_model_uri": model.uri,
            "source_model_version": str(model.version or model.mlflow_run_id or "unknown"), "pipeline": "score"}
    if model.run_id:
        tags["source_run_id"] = model.run_id
    return tags
