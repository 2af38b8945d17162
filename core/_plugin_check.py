"""The conventions' checklist for a new plugin, as checks (`core plugins check`, `core.testing`).

Each check returns a `Check`: pass or fail, a one-line reason, and where to look. They read
the plugin's code and files, import it in a fresh interpreter, and smoke-run its example
spec on the recording fake tracker in a temporary artifact root.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import logging
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from core._deps import extra_requirements, normalize_name, requirements
from core._errors import BadInput
from core._tracking.naming import metric_problem, param_problem, tag_problem
from core.contracts import Plugin, RunSpec, RunStatus

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "torch", "transformers", "tokenizers", "matplotlib", "mlflow", "ray",
         "sqlalchemy")
STANDARD_FOLDERS = ("data", "models", "metrics", "plots", "reports")
CORE_FOLDERS = ("summary", "errors", "logs", "tracking")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
MAX_RUN_LINES = 60


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PluginUnderCheck:
    """What the checks need to know about one plugin."""

    key: str
    cls: type[Plugin]
    distribution: str | None = None  # the installed distribution providing it, if any

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
              extra_covers_imports(target), readme_example(target)]
    checks += smoke_run(target)
    return checks


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


def smoke_run(t: PluginUnderCheck) -> list[Check]:
    """Run the smoke example on the fake tracker; check layout, artifact paths and names."""
    from core._registry import Registry
    from core._runner import run
    from core._tracking.fake import FakeTracking

    spec, source = smoke_spec(t)
    if spec is None:
        return [Check("smoke run", False, "no example spec to run: add examples/smoke.yaml (or a README example)",
                      str(t.package_dir))]
    fake = FakeTracking()
    with tempfile.TemporaryDirectory(prefix="mlcore-check-") as tmp, _quiet_console():
        outcome = run(spec, artifact_root=tmp, registry=Registry({t.key: t.cls}), backend=fake, strict=False)
        if outcome.status is not RunStatus.FINISHED:
            return [Check("smoke run", False, f"{source} ended {outcome.status.value}: {outcome.error}",
                          str(outcome.run_dir / "errors" / "exception.txt"))]
        checks = [Check("smoke run", True, f"{source} FINISHED in {outcome.summary.duration_s}s", source)]
        checks.append(_layout(outcome.run_dir))
        checks.append(_artifact_paths(outcome.run_dir, fake.only_run().artifacts))
    checks.append(_names(fake.only_run()))
    return checks


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
    logged = [k for k in artifacts if not k.startswith(("summary/", "errors/", "reports/report.html"))]
    wrong = [k for k in logged if k.split("/", 1)[0] not in STANDARD_FOLDERS or not (run_dir / k).is_file()]
    if wrong:
        return Check(name, False, f"logged {wrong[0]} with an artifact_path that is not its folder in the run "
                     "(log files from data/, models/, ... with artifact_path='data', 'models', ...)", wrong[0])
    if not logged:
        return Check(name, False, "logs no artifact (write results under metrics/ and log them with "
                     "artifact_path='metrics')")
    return Check(name, True, f"{len(logged)} artifacts, each under its own folder's name")


def _names(recorded) -> Check:  # noqa: ANN001
    problems = [param_problem(k) for k in recorded.params] + [metric_problem(m.key) for m in recorded.metrics]
    problems += [tag_problem(k, v) for k, v in recorded.tags.items()]
    problems = sorted({p for p in problems if p})
    if problems:
        return Check("structured names", False, problems[0] + (f" (and {len(problems) - 1} more)"
                                                                if len(problems) > 1 else ""))
    return Check("structured names", True, f"{len(recorded.params)} params, "
                 f"{len({m.key for m in recorded.metrics})} metrics, tags all follow the conventions")


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


def target_for_class(cls: type[Plugin], *, key: str | None = None) -> PluginUnderCheck:
    top = cls.__module__.split(".")[0]
    dists = _module_providers().get(top) or []
    return PluginUnderCheck(key or cls.info.key, cls, dists[0] if dists else None)
