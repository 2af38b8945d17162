"""The conventions' checklist for a new plugin, as checks (`core plugins check`, `core.testing`).

Each check returns a `Check`: pass or fail, a one-line reason, and where to look. They read
the plugin's code and files, import it in a fresh interpreter, and smoke-run its example
spec on the recording fake tracker in a temporary artifact root.

Behaviour checks, like scikit-learn's estimator checks: `validate` rejects an unknown field,
`run` returns a `RunResult`, every logged name follows the conventions, and the same seed gives
the same metrics. The smoke run is done once per plugin class and spec in a process and shared
by the checks that read it (the same-seed check adds one more run). A check that needs the
plugin's extra is skipped, saying which, where the extra is not installed.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import logging
import math
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core._deps import extra_requirements, is_installed, normalize_name, requirements
from core._errors import BadInput, MissingExtra
from core._tracking.naming import MEASUREMENTS, metric_problem, param_problem, tag_problem
from core.contracts import Plugin, RunSpec, RunStatus

if TYPE_CHECKING:
    from core._runner import RunOutcome
    from core._tracking.fake import FakeRun

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "torch", "transformers", "tokenizers", "matplotlib", "mlflow", "ray",
         "sqlalchemy")
STANDARD_FOLDERS = ("data", "models", "metrics", "plots", "reports")
CORE_FOLDERS = ("summary", "errors", "logs", "tracking")
CORE_ARTIFACTS = ("summary/", "errors/", "reports/report.html", "logs/run.log")  # what core itself logs for every run
# The one artifact path besides the standard folders: a trained run's MLflow Model (`runs:/<id>/model`),
# logged from wherever the plugin saved it in the run folder (models/mlflow_model/ in mlcore's families).
MODEL_ARTIFACT = "model"
UNKNOWN_FIELD = "no_such_field_xyz"
CHECK_SEED = 0  # the seed the smoke run uses when its spec sets none
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MAX_RUN_LINES = 60


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str
    where: str = ""
    #: not checked, and not a failure: `reason` says why (the plugin's extra is not installed)
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PluginUnderCheck:
    """What the checks need to know about one plugin."""

    key: str
    cls: type[Plugin]
    distribution: str | None = None  # the installed distribution providing it, if any
    #: the spec to smoke-run; default: its examples/smoke.yaml (else another example, else the README's)
    smoke: RunSpec | None = field(default=None, compare=False)

    @property
    def module(self) -> str:
        return self.cls.__module__

    @property
    def package_dir(self) -> Path:
        return Path(inspect.getfile(self.cls)).resolve().parent

    @property
    def package(self) -> str:
        return self.module.rpartition(".")[0] or self.module


def run_checks(target: PluginUnderCheck, *, env: dict[str, str] | None = None) -> list[Check]:
    checks = [own_package(target), stable_key(target), run_is_glue(target), light_import(target, env=env),
              extra_covers_imports(target), readme_example(target), rejects_unknown_fields(target)]
    checks += smoke_run(target)
    checks += [returns_run_result(target), logged_names(target), same_seed_same_metrics(target)]
    return checks


def _skip_without_extra(t: PluginUnderCheck, name: str) -> Check | None:
    """A skipped `Check` where the plugin's extra is not installed (the check needs it), else None."""
    missing = [m for m in t.cls.info.requires if not is_installed(m)]
    if not missing:
        return None
    error = MissingExtra(caller=f"plugin '{t.key}'", module=missing[0], extra=t.cls.info.extra)
    return Check(name, True, f"skipped: {error}", skipped=True)


def own_package(t: PluginUnderCheck) -> Check:
    name = "own package"
    if t.module.rsplit(".", 1)[-1] != "plugin" or not (t.package_dir / "__init__.py").is_file():
        return Check(name, False, f"{t.cls.__name__} is defined in module '{t.module}': put it in <package>/plugin.py",
                     inspect.getfile(t.cls))
    return Check(name, True, f"{t.module} in its own package", str(t.package_dir))


def stable_key(t: PluginUnderCheck) -> Check:
    name = "stable key"
    key = getattr(getattr(t.cls, "info", None), "key", None)
    if not isinstance(key, str) or not KEY_RE.match(key):
        return Check(name, False, f"PluginInfo.key {key!r} must be lower_snake_case (letters, digits, _)",
                     f"{t.module}.{t.cls.__name__}.info")
    if key != t.key:
        return Check(name, False, f"PluginInfo.key '{key}' differs from its entry-point name '{t.key}'",
                     "pyproject.toml [project.entry-points.\"mlcore.plugins\"]")
    return Check(name, True, f"'{key}' matches its entry point")


def run_is_glue(t: PluginUnderCheck) -> Check:
    name = "run() is glue"
    where = f"{inspect.getsourcefile(t.cls.run)}:{inspect.getsourcelines(t.cls.run)[1]}"
    source = inspect.getsource(t.cls.run)
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    tree = ast.parse(textwrap.dedent(source))
    nested = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))
              and any(isinstance(m, (ast.For, ast.While)) for m in ast.walk(n) if m is not n)]
    calls = sorted({_call_name(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)} - {""})
    if len(lines) > MAX_RUN_LINES:
        return Check(name, False, f"run() is {len(lines)} lines (at most {MAX_RUN_LINES}): move the work into "
                     "data.py / train.py / eval.py helpers", where)
    if nested:
        return Check(name, False, "run() has a loop inside a loop: that is a training loop; move it to train.py",
                     where)
    return Check(name, True, f"{len(lines)} lines, no nested loops; calls {', '.join(calls[:6])}"
                 + (", ..." if len(calls) > 6 else ""), where)


def light_import(t: PluginUnderCheck, *, env: dict[str, str] | None = None) -> Check:
    name = "light import"
    code = (f"import importlib, json, sys\nimportlib.import_module({t.module!r})\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        return Check(name, False, f"importing {t.module} fails: {(proc.stderr.strip().splitlines() or ['?'])[-1]}",
                     t.module)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    if loaded:
        return Check(name, False, f"importing {t.module} loads {', '.join(loaded)}: import them inside run() or "
                     "helpers it calls, so listing plugins stays cheap", t.module)
    return Check(name, True, f"importing {t.module} loads none of {', '.join(HEAVY[:6])}, ...")


def extra_covers_imports(t: PluginUnderCheck) -> Check:
    name = "extra covers imports"
    if skipped := _skip_without_extra(t, name):
        return skipped
    info = t.cls.info
    allowed = _allowed_distributions(t)
    if info.requires and not info.extra and not t.distribution:
        return Check(name, False, f"PluginInfo.requires {list(info.requires)} but no extra names where they come "
                     "from", f"{t.module}.{t.cls.__name__}.info")
    if info.extra and t.distribution in (None, "mlcore") and not extra_requirements(info.extra):
        return Check(name, False, f"extra '{info.extra}' is not declared by mlcore", "pyproject.toml")
    providers = _module_providers()
    uncovered = []
    for module in sorted(_third_party_imports(t) | set(info.requires)):
        dists = {normalize_name(d) for d in providers.get(module, [])}
        if not dists or not dists & allowed:
            uncovered.append(module)
    if uncovered:
        via = f"extra '{info.extra}'" if info.extra else f"distribution '{t.distribution}'"
        return Check(name, False, f"imports {', '.join(uncovered)}, which {via} does not provide: add it to the "
                     "extra (and to PluginInfo.requires)", str(t.package_dir))
    return Check(name, True, f"every import is core's, the standard library's or {info.extra or t.distribution}'s")


def readme_example(t: PluginUnderCheck) -> Check:
    from core._registry import Registry
    from core._runner import prepare
    from core._spec import spec_from_mapping

    name = "README example"
    if skipped := _skip_without_extra(t, name):
        return skipped
    readme = t.package_dir / "README.md"
    if not readme.is_file():
        return Check(name, False, "no README.md beside plugin.py (what it does, what it logs, an example spec)",
                     str(t.package_dir))
    blocks = _example_specs(readme.read_text(encoding="utf-8"), t.key)
    if not blocks:
        return Check(name, False, f"README.md has no ```yaml block with `plugin: {t.key}`", str(readme))
    registry = Registry({t.key: t.cls})
    for data in blocks:
        try:
            prepare(spec_from_mapping(data, source=str(readme)), registry=registry)
        except BadInput as exc:
            return Check(name, False, f"its example spec does not validate: {exc}", str(readme))
    return Check(name, True, f"{len(blocks)} example spec(s) validate", str(readme))


def rejects_unknown_fields(t: PluginUnderCheck) -> Check:
    """`validate` rejects an unknown key at the top of `data_spec` and inside each nested section
    (`model.*`, ...) of the smoke spec, with a `BadInput` (`SpecError`) that names it."""
    name = "rejects unknown fields"
    if skipped := _skip_without_extra(t, name):
        return skipped
    where = f"{t.module}.{t.cls.__name__}.validate"
    spec, source = smoke_spec(t)
    base = spec if spec is not None else RunSpec(plugin=t.key)
    try:
        plugin = t.cls()
    except Exception as exc:  # noqa: BLE001 - a constructor's failure is the plugin's, reported as the check's
        return Check(name, False, f"{t.cls.__name__}() fails: {type(exc).__name__}: {exc}", where)
    error = _validate(plugin, base)
    if error is not None:
        shown = source or "an empty data_spec"
        return Check(name, False, f"not checked: {shown} does not validate: {type(error).__name__}: {error}", where)
    sections = list(dict.fromkeys(f.name.split(".", 1)[0] for f in t.cls.config_fields if "." in f.name))
    present = [s for s in sections if isinstance(base.data_spec.get(s), Mapping)]
    tried = present or [s for s in sections if s not in base.data_spec][:1]
    cases = {f"data_spec.{UNKNOWN_FIELD}": {**base.data_spec, UNKNOWN_FIELD: 1}}
    for section in tried:
        cases[f"data_spec.{section}.{UNKNOWN_FIELD}"] = {
            **base.data_spec, section: {**base.data_spec.get(section, {}), UNKNOWN_FIELD: 1}}
    for label, data_spec in cases.items():
        error = _validate(plugin, replace(base, data_spec=data_spec))
        if error is None:
            return Check(name, False, f"validate accepts {label}: raise core.SpecError naming an unknown field "
                         "and the allowed names, so a typo is not silently ignored", where)
        if not isinstance(error, BadInput):
            return Check(name, False, f"validate raises {type(error).__name__} ({error}) for {label}: raise "
                         "core.SpecError naming the field", where)
        if UNKNOWN_FIELD not in str(error):
            return Check(name, False, f"validate rejects {label} without naming it: {error}", where)
    if not t.cls.config_fields:
        note = " (no nested section checked: the plugin declares no config_fields)"
    elif not sections:
        note = " (no nested section checked: its config_fields have no dotted names)"
    else:
        note = ""
    return Check(name, True, f"validate rejects {', '.join(cases)}{note}", where)


def _validate(plugin: Plugin, spec: RunSpec) -> Exception | None:
    """What `plugin.validate(spec)` raises, or None when it accepts the spec."""
    try:
        plugin.validate(spec)
    except Exception as exc:  # noqa: BLE001 - the caller judges it: a BadInput naming the field passes
        return exc
    return None


@dataclass
class SmokeRun:
    """One run of a plugin's smoke spec on the fake tracker, shared by every check that reads it."""

    spec: RunSpec | None  # as run: with a seed
    source: str
    #: smoke run, standard folders, artifact paths; only the first when the run did not finish
    checks: list[Check]
    status: RunStatus | None = None  # None: it did not run (no spec, a spec that does not validate, no extra)
    error: str | None = None
    recorded: FakeRun | None = None
    same_seed: Check | None = None  # the same-seed check, once done

    def not_checked(self, name: str) -> Check:
        """`name`'s result when it needed a run that did not happen or did not finish."""
        first = self.checks[0]
        if first.skipped:
            return replace(first, name=name)
        what = f"ended {self.status.value}" if self.status else "did not run"
        return Check(name, False, f"not checked: the smoke run {what} (see 'smoke run')", first.where)


_SMOKE_RUNS: dict[tuple[type[Plugin], str, str], SmokeRun] = {}


def smoke(t: PluginUnderCheck) -> SmokeRun:
    """The plugin's smoke run, done on the first call for this class and spec in this process and
    reused after: the checks together run the spec once (twice with the same-seed check).
    A spec without a seed runs with `CHECK_SEED`."""
    if skipped := _skip_without_extra(t, "smoke run"):
        return SmokeRun(None, "", [skipped])
    spec, source = smoke_spec(t)
    if spec is None:
        return SmokeRun(None, "", [Check("smoke run", False, "no example spec to run: add examples/smoke.yaml (or a "
                                         "README example)", str(t.package_dir))])
    seed_note = f"seed {spec.seed}" if spec.seed is not None else f"seed {CHECK_SEED}, set by the check"
    if spec.seed is None:
        spec = replace(spec, seed=CHECK_SEED)
    key = (t.cls, t.key, json.dumps(spec.to_dict(), sort_keys=True, default=repr))
    if key not in _SMOKE_RUNS:
        _SMOKE_RUNS[key] = _first_smoke_run(t, spec, source, seed_note)
    return _SMOKE_RUNS[key]


def _first_smoke_run(t: PluginUnderCheck, spec: RunSpec, source: str, seed_note: str) -> SmokeRun:
    try:
        outcome, recorded, folder_checks = _run_on_fake(t, spec)
    except BadInput as exc:
        return SmokeRun(spec, source, [Check("smoke run", False, f"{source} does not validate: {exc}", source)])
    if outcome.status is not RunStatus.FINISHED:
        failed = Check("smoke run", False, f"{source} ended {outcome.status.value}: {outcome.error}", source)
        return SmokeRun(spec, source, [failed], outcome.status, outcome.error, recorded)
    ran = Check("smoke run", True, f"{source} FINISHED in {outcome.summary.duration_s}s ({seed_note})", source)
    return SmokeRun(spec, source, [ran, *folder_checks], outcome.status, outcome.error, recorded)


def _run_on_fake(t: PluginUnderCheck, spec: RunSpec) -> tuple[RunOutcome, FakeRun | None, list[Check]]:
    """Run `spec` on a fresh fake tracker in a temporary artifact root; the checks of the run
    folder (standard folders, artifact paths) are made before the folder goes."""
    from core._registry import Registry
    from core._runner import run
    from core._tracking.fake import FakeTracking

    fake = FakeTracking()
    with tempfile.TemporaryDirectory(prefix="mlcore-check-") as tmp, _quiet_console():
        outcome = run(spec, artifact_root=tmp, registry=Registry({t.key: t.cls}), backend=fake, strict=False)
        recorded = next(iter(fake.runs.values()), None)
        artifacts = recorded.artifacts if recorded else {}
        folder_checks = [_layout(outcome.run_dir), _artifact_paths(outcome.run_dir, artifacts)]
    if recorded is not None:  # kept for the session: the checks read artifact names, not contents (models)
        recorded.artifacts = dict.fromkeys(recorded.artifacts, b"")
    return outcome, recorded, folder_checks


def smoke_run(t: PluginUnderCheck) -> list[Check]:
    """Run the smoke example on the fake tracker; check it finishes, its layout and artifact paths."""
    return list(smoke(t).checks)


_NOT_A_RUN_RESULT = re.compile(r"returned (\S+), not core\.RunResult")


def returns_run_result(t: PluginUnderCheck) -> Check:
    """`run` returns a `core.RunResult` (core records a FAILED run otherwise), seen on the smoke run."""
    name = "returns RunResult"
    s = smoke(t)
    if s.status is RunStatus.FINISHED:
        return Check(name, True, "run() returned a core.RunResult")
    wrong = _NOT_A_RUN_RESULT.search(s.error or "")
    if wrong:
        return Check(name, False, f"run() returned {wrong.group(1)}, not core.RunResult, so core recorded the run "
                     "FAILED: end run() with `return RunResult(outputs={...})`",
                     f"{t.module}.{t.cls.__name__}.run")
    return s.not_checked(name)


def logged_names(t: PluginUnderCheck) -> Check:
    """Every param, metric, tag and artifact path the smoke run logged follows the conventions:
    core._tracking.naming's rules for params, metrics and tags, `artifact_problem` for artifacts."""
    name = "structured names"
    s = smoke(t)
    if s.recorded is None:
        return s.not_checked(name)
    r = s.recorded
    metrics = sorted({m.key for m in r.metrics})
    problems = [param_problem(k) for k in r.params] + [metric_problem(k) for k in metrics]
    problems += [tag_problem(k, v) for k, v in r.tags.items()] + [artifact_problem(k) for k in r.artifacts]
    problems = sorted({p for p in problems if p})
    if problems:
        return Check(name, False, problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                     s.source)
    own = [k for k in r.artifacts if not k.startswith(CORE_ARTIFACTS)]
    return Check(name, True, f"{len(r.params)} params, {len(metrics)} metrics, {len(r.tags)} tags and "
                 f"{len(own)} artifact paths follow the conventions")


def artifact_problem(path: str) -> str | None:
    """The artifact-path convention: what a plugin logs sits under one of the standard folders."""
    if path.startswith(CORE_ARTIFACTS) or ("/" in path and path.split("/", 1)[0] in (*STANDARD_FOLDERS,
                                                                                     MODEL_ARTIFACT)):
        return None
    return (f"artifact '{path}' should be under {', '.join(f + '/' for f in STANDARD_FOLDERS)} "
            f"or be the MLflow Model at {MODEL_ARTIFACT}/ (log_artifact(path, artifact_path='metrics'), ...)")


def same_seed_same_metrics(t: PluginUnderCheck) -> Check:
    """The smoke spec run a second time with the same seed gives identical final metrics (exact,
    floats included), measurements of the machine (`*_seconds`, `*_mem_mb`) aside. The smoke run is
    the first of the two."""
    name = "same seed same metrics"
    s = smoke(t)
    if s.status is not RunStatus.FINISHED or s.spec is None or s.recorded is None:
        return s.not_checked(name)
    if s.same_seed is None:
        s.same_seed = _compare_second_run(t, s, name)
    return s.same_seed


def _compare_second_run(t: PluginUnderCheck, s: SmokeRun, name: str) -> Check:
    assert s.spec is not None and s.recorded is not None
    seed = s.spec.seed
    try:
        outcome, recorded, _ = _run_on_fake(t, s.spec)
    except BadInput as exc:
        return Check(name, False, f"the second run with seed {seed} was refused: {exc} (the first FINISHED)", s.source)
    if outcome.status is not RunStatus.FINISHED or recorded is None:
        return Check(name, False, f"the second run with seed {seed} ended {outcome.status.value}: {outcome.error} "
                     "(the first FINISHED)", s.source)
    first, second = s.recorded.final_metrics(), recorded.final_metrics()
    differ = [k for k in sorted(first.keys() | second.keys())
              if not k.endswith(MEASUREMENTS) and not _identical(first.get(k), second.get(k))]
    if differ:
        k = differ[0]
        more = f" (and {len(differ) - 1} more)" if len(differ) > 1 else ""
        return Check(name, False, f"two runs with seed {seed} differ: {k} was {_shown(first.get(k))}, then "
                     f"{_shown(second.get(k))}{more}: seed every source of randomness from spec.seed "
                     "(PluginInfo.seeds, or pass spec.seed on)", s.source)
    if not first:
        return Check(name, True, f"two runs with seed {seed}: no metrics logged, nothing to compare")
    return Check(name, True, f"two runs with seed {seed}: {len(first)} final metrics identical")


def _identical(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _shown(value: float | None) -> str:
    return "not logged" if value is None else repr(value)


@contextlib.contextmanager
def _quiet_console() -> Iterator[None]:
    """The smoke run's own log lines stay in its run.log; the console shows the checks."""
    handlers = logging.getLogger("mlcore").handlers
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(h.level, logging.WARNING))
    try:
        yield
    finally:
        for h, level in zip(handlers, levels):
            h.setLevel(level)


def smoke_spec(t: PluginUnderCheck) -> tuple[RunSpec | None, str]:
    from core._spec import load_spec, spec_from_mapping

    if t.smoke is not None:
        return t.smoke, "the spec given to the check"
    examples = t.package_dir / "examples"
    files = sorted(examples.glob("*.yaml")) if examples.is_dir() else []
    files.sort(key=lambda p: (p.stem != "smoke", p.name))
    for path in files:
        try:
            spec = load_spec(path)
        except BadInput:
            continue
        if spec.plugin == t.key and "REPLACE" not in path.read_text(encoding="utf-8"):
            return spec, str(path)
    readme = t.package_dir / "README.md"
    for data in _example_specs(readme.read_text(encoding="utf-8"), t.key) if readme.is_file() else []:
        return spec_from_mapping(data, source=str(readme)), f"{readme} (example)"
    return None, ""


def _layout(run_dir: Path) -> Check:
    name = "standard folders"
    stray = sorted(p.name for p in run_dir.iterdir() if p.name not in STANDARD_FOLDERS + CORE_FOLDERS)
    if stray:
        return Check(name, False, f"wrote {', '.join(stray)} outside the standard folders "
                     f"({', '.join(STANDARD_FOLDERS)})", str(run_dir))
    used = sorted(p.name for p in run_dir.iterdir() if p.name in STANDARD_FOLDERS)
    return Check(name, True, f"writes under {', '.join(used) or 'nothing'}")


def _artifact_paths(run_dir: Path, artifacts: dict[str, bytes]) -> Check:
    name = "artifact paths"
    logged = [k for k in artifacts if not k.startswith(CORE_ARTIFACTS)]
    model = [k for k in logged if k.startswith(MODEL_ARTIFACT + "/")]
    if model and f"{MODEL_ARTIFACT}/MLmodel" not in model:
        return Check(name, False, f"logged {model[0]} under {MODEL_ARTIFACT}/, which is for an MLflow Model (a folder "
                     "with an MLmodel file, as save_model writes it)", model[0])
    wrong = [k for k in logged if k not in model and not (run_dir / k).is_file()]
    if wrong:
        return Check(name, False, f"logged {wrong[0]} with an artifact_path that is not its folder in the run "
                     "(log files from data/, models/, ... with artifact_path='data', 'models', ...)", wrong[0])
    if not logged:
        return Check(name, False, "logs no artifact (write results under metrics/ and log them with "
                     "artifact_path='metrics')")
    return Check(name, True, f"{len(logged)} artifacts, each under its own folder's name")


def _example_specs(text: str, key: str) -> list[dict]:
    import yaml

    out = []
    for block in re.findall(r"```ya?ml\n(.*?)```", text, flags=re.S):
        try:
            data = yaml.safe_load(block)
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("plugin") == key and "sweep" not in data:
            out.append(data)
    return out


def _third_party_imports(t: PluginUnderCheck) -> set[str]:
    """Top-level modules imported by the plugin's package and, following its imports, by the
    shared helper modules it uses (`plugins.common...`), minus stdlib, core and its own code."""
    own_top = t.module.split(".")[0]
    root = t.package_dir.parent if own_top == "plugins" else None
    files = [p for p in t.package_dir.rglob("*.py") if "tests" not in p.relative_to(t.package_dir).parts]
    seen: set[Path] = set()
    found: set[str] = set()
    while files:
        path = files.pop()
        if path in seen:
            continue
        seen.add(path)
        for module, names in _imports(path):
            top = module.split(".")[0]
            if top == "plugins" and root is not None:
                files += _helper_files(root, module, names)
            elif top not in sys.stdlib_module_names and top not in ("core", own_top, "__future__"):
                found.add(top)
    return found


def _helper_files(root: Path, module: str, names: list[str]) -> list[Path]:
    """The source files `from plugins.a.b import c` (or `import plugins.a.b`) reads."""
    base = root.joinpath(*module.split(".")[1:])
    out = []
    for name in names or [""]:
        for candidate in (base / f"{name}.py", base / name / "__init__.py") if name else ():
            if candidate.is_file():
                out.append(candidate)
                break
        else:
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    out.append(candidate)
                    break
    return out


def _imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]


def _allowed_distributions(t: PluginUnderCheck) -> set[str]:
    allowed = {normalize_name(r) for r in requirements("mlcore")}
    if t.cls.info.extra and t.distribution in (None, "mlcore"):
        allowed |= {normalize_name(r) for r in extra_requirements(t.cls.info.extra)}
    if t.distribution and t.distribution != "mlcore":
        allowed |= {normalize_name(r) for r in requirements(t.distribution, t.cls.info.extra)}
    return allowed


_PROVIDERS: dict[str, list[str]] | None = None


def _module_providers() -> dict[str, list[str]]:
    global _PROVIDERS
    if _PROVIDERS is None:
        _PROVIDERS = dict(metadata.packages_distributions())
    return _PROVIDERS


def _call_name(func: ast.AST) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
        return ".".join(reversed(parts))
    return ""


def target_for(key: str) -> PluginUnderCheck:
    """The installed plugin `key` (through its entry point), ready to check."""
    from core._registry import Registry

    cls = Registry().load(key)
    return target_for_class(cls, key=key)


def target_for_class(cls: type[Plugin], *, key: str | None = None, smoke: RunSpec | None = None) -> PluginUnderCheck:
    top = cls.__module__.split(".")[0]
    dists = _module_providers().get(top) or []
    return PluginUnderCheck(key or cls.info.key, cls, dists[0] if dists else None, smoke)
