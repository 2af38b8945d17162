"""Plugin developer experience: `core plugins show|new|check`, the contract kit, naming checks."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from core import Plugin, PluginInfo, RunResult, RunSpec
from core._plugin_check import (
    PluginUnderCheck,
    extra_covers_imports,
    light_import,
    logged_names,
    own_package,
    readme_example,
    rejects_unknown_fields,
    returns_run_result,
    run_is_glue,
    same_seed_same_metrics,
    smoke_run,
    stable_key,
)
from core._registry import Registry
from core._runner import run
from core._scaffold import scaffold
from core._tracking.fake import FakeTracking


def test_show_lists_config_fields_examples_and_readme(cli_env):
    out = json.loads(run_cli(["plugins", "show", "sklearn_classifier", "--json"], cli_env).stdout)
    assert out["key"] == "sklearn_classifier" and out["extra"] == "sklearn"
    fields = {f["name"]: f for f in out["config"]}
    assert fields["model.type"]["default"] == "random_forest" and "svm" in fields["model.type"]["allowed"]
    assert fields["data.name"]["when"] == "data.source: builtin"
    assert any(p.endswith("smoke.yaml") for p in out["examples"]) and out["readme"].endswith("README.md")
    text = run_cli(["plugins", "show", "sklearn_classifier"], cli_env).stdout
    assert "config (data_spec):" in text and "model.type" in text and "plugin: sklearn_classifier" in text
    missing = run_cli(["plugins", "show", "nope"], cli_env)
    assert missing.returncode == 2 and "unknown plugin 'nope'" in missing.stderr


@pytest.mark.parametrize("columns", [100, 60])
def test_show_fits_the_terminal_and_shows_the_readme_as_text(cli_env, columns):
    """Issue 21: within the terminal's width (a two-line layout per field when the table is too wide),
    the README rendered as text, not only its path. Code blocks are kept as written."""
    text = run_cli(["plugins", "show", "sklearn_classifier"], cli_env | {"COLUMNS": str(columns)}).stdout
    readme = text[text.index("README (README.md):"):]
    assert "Example\n  -------" in readme and "](" not in readme  # a heading underlined, links as text
    example = text[text.index("examples:"):text.index("README (README.md):")]
    code = {line for line in readme.splitlines() if line.startswith("      ")} | set(example.splitlines())
    # (a path alone on its line cannot be broken: the checkout's location decides its length)
    too_wide = [line for line in text.splitlines() if len(line) > columns and line not in code and " " in line.strip()]
    assert too_wide == [], too_wide
    assert "score data with a trained run's model" in " ".join(text.split())
    short = run_cli(["plugins", "show", "sklearn_classifier", "--no-readme"], cli_env).stdout
    assert "README (README.md):" not in short


def test_new_plugin_in_its_own_package_installs_checks_lists_and_runs(cli_env, tmp_path):
    """Scaffold with --dest, pip install it, and it passes every check and runs, with no edits."""
    dest = tmp_path / "my-plugin"
    proc = run_cli(["plugins", "new", "lemon_tree", "--dest", str(dest)], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "core plugins check lemon_tree" in proc.stdout
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(dest)],
                   check=True)
    env = dict(cli_env, PYTHONPATH=f"{site}:{cli_env['PYTHONPATH']}")
    check = run_cli(["plugins", "check", "lemon_tree", "--json"], env, timeout=300)
    report = json.loads(check.stdout)["lemon_tree"]
    assert check.returncode == 0 and report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert {c["name"] for c in report["checks"]} >= {"own package", "stable key", "run() is glue", "light import",
                                                     "extra covers imports", "README example", "smoke run",
                                                     "standard folders", "artifact paths", "structured names",
                                                     "rejects unknown fields", "returns RunResult",
                                                     "same seed same metrics"}
    assert "lemon_tree" in run_cli(["plugins", "list"], env).stdout
    ran = run_cli(["run", str(dest / "lemon_tree" / "examples" / "smoke.yaml"), "--json"], env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"]["test_accuracy"] > 0.7
    lint = _ruff(dest, "--isolated", "--line-length", "120")  # ruff's defaults: what a new project has
    assert lint.returncode == 0, lint.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(dest / "tests")],
                           cwd=dest, env=env, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "passed" in tests.stdout


def test_new_plugin_in_the_checkout_is_registered(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[project.entry-points."mlcore.plugins"]\n'
                                             'a = "plugins.a:A"\n\n[tool.x]\n')
    written = scaffold("kiwi_fruit", repo_root=tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"plugins/kiwi_fruit/plugin.py", "plugins/kiwi_fruit/config.py", "plugins/kiwi_fruit/README.md",
            "plugins/kiwi_fruit/examples/smoke.yaml", "plugins/kiwi_fruit/tests/test_kiwi_fruit.py"} <= names
    text = (tmp_path / "pyproject.toml").read_text()
    repo = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    ruff_sections = "\n".join(part for part in repo.split("\n[") if part.startswith("tool.ruff"))
    (tmp_path / "pyproject.toml").write_text(text + "\n[" + ruff_sections.replace("\ntool.ruff", "\n[tool.ruff"))
    lint = _ruff(tmp_path)  # this checkout's rules, which the new plugin joins
    assert lint.returncode == 0, lint.stdout
    assert 'a = "plugins.a:A"\nkiwi_fruit = "plugins.kiwi_fruit.plugin:KiwiFruitPlugin"\n\n[tool.x]' in text
    from core._errors import BadInput

    with pytest.raises(BadInput, match="already exists"):
        scaffold("kiwi_fruit", repo_root=tmp_path)
    with pytest.raises(BadInput, match="lower_snake_case"):
        scaffold("Kiwi-Fruit", repo_root=tmp_path)


def _ruff(where: Path, *options: str) -> subprocess.CompletedProcess:
    """`ruff check` on a scaffolded plugin: what it writes passes the linter as it stands."""
    pytest.importorskip("ruff", reason="ruff comes with the dev extra")
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                           *options, str(where)], cwd=where, capture_output=True, text=True, timeout=120)


# -- a plugin breaking each checklist item fails `check` with the right reason -------------------------

GOOD = {
    "__init__.py": "from {pkg}.plugin import P\n",
    "plugin.py": '''
from core import Plugin, PluginInfo, RunResult


class P(Plugin):
    info = PluginInfo(key="{key}", description="checked")

    def validate(self, spec):
        from core import SpecError

        unknown = [k for k in spec.data_spec if k != "purpose"]
        if unknown:
            raise SpecError("unknown field", field=f"data_spec.{{unknown[0]}}", allowed=("purpose",))

    def run(self, spec, *, context):
        from {pkg} import work

        return work.go(spec, context)
''',
    "work.py": '''
import json


def go(spec, context):
    from core import RunResult

    context.tracking.log_params({{"data.n": 3, "model.type": "none"}})
    context.tracking.log_metrics({{"test_accuracy": 0.5}})
    path = context.artifact_dir / "metrics" / "m.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({{"test_accuracy": 0.5}}))
    context.tracking.log_artifact(path, artifact_path="metrics")
    return RunResult(outputs={{"ok": True}})
''',
    "README.md": "# {key}\n\n```yaml\nplugin: {key}\ndata_spec: {{}}\n```\n",
    "examples/smoke.yaml": "plugin: {key}\nseed: 0\ntags: {{purpose: smoke}}\n",
}


def _package(tmp_path, name, **changes):
    """A package `name` with a plugin that passes every check, except what `changes` break."""
    files = {**GOOD, **changes}
    root = tmp_path / "pkgs"
    for rel, text in files.items():
        if text is None:
            continue
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(pkg=name, key=name))
    sys.path.insert(0, str(root))
    try:
        module = __import__(f"{name}.plugin", fromlist=["P"])
    finally:
        sys.path.remove(str(root))
    return PluginUnderCheck(name, module.P), {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}


def test_a_plugin_that_follows_the_checklist_passes_every_check(tmp_path):
    target, env = _package(tmp_path, "good_one")
    checks = [own_package(target), stable_key(target), run_is_glue(target), light_import(target, env=env),
              extra_covers_imports(target), readme_example(target), rejects_unknown_fields(target),
              *smoke_run(target), returns_run_result(target), logged_names(target), same_seed_same_metrics(target)]
    assert all(c.ok and not c.skipped for c in checks), [c for c in checks if not c.ok]


def test_plugin_not_in_plugin_py_fails_own_package(tmp_path):
    target, _ = _package(tmp_path, "flat_one")
    target.cls.__module__ = "flat_one"
    assert not own_package(target).ok and "<package>/plugin.py" in own_package(target).reason


def test_bad_key_fails_stable_key(tmp_path):
    target, _ = _package(tmp_path, "keyed_one", **{"plugin.py": GOOD["plugin.py"].replace('key="{key}"', 'key="Bad-Key"')})
    target.key = "Bad-Key"
    check = stable_key(target)
    assert not check.ok and "lower_snake_case" in check.reason


def test_training_loop_in_run_fails_glue(tmp_path):
    loop = GOOD["plugin.py"].replace("        return work.go(spec, context)",
                                     "        for epoch in range(3):\n            for batch in range(2):\n"
                                     "                context.tracking.log_metric('train_loss', 1.0, step=epoch)\n"
                                     "        return work.go(spec, context)")
    target, _ = _package(tmp_path, "loopy_one", **{"plugin.py": loop})
    check = run_is_glue(target)
    assert not check.ok and "loop inside a loop" in check.reason


def test_heavy_import_at_module_level_fails_light_import(tmp_path):
    heavy = "import sqlalchemy  # noqa\n" + GOOD["plugin.py"]
    target, env = _package(tmp_path, "heavy_one", **{"plugin.py": heavy})
    check = light_import(target, env={**env, "PYTHONPATH": env["PYTHONPATH"] + ":" + ":".join(sys.path)})
    assert not check.ok and "loads sqlalchemy" in check.reason


def test_undeclared_import_fails_extra_covers_imports(tmp_path):
    work = "import pytest  # not a dependency of core nor of any extra it declares\n" + GOOD["work.py"]
    target, _ = _package(tmp_path, "undeclared_one", **{"work.py": work})
    check = extra_covers_imports(target)
    assert not check.ok and "imports pytest" in check.reason


def test_missing_or_invalid_readme_fails(tmp_path):
    target, _ = _package(tmp_path, "no_readme", **{"README.md": None})
    assert "no README.md" in readme_example(target).reason
    bad = "# x\n\n```yaml\nplugin: {key}\nseed: many\n```\n"
    target, _ = _package(tmp_path, "bad_readme", **{"README.md": bad})
    check = readme_example(target)
    assert not check.ok and "does not validate" in check.reason and "seed" in check.reason


def test_smoke_run_catches_stray_files_wrong_artifact_paths_and_names(tmp_path):
    stray = GOOD["work.py"].replace('    return RunResult', '    (context.artifact_dir / "out.txt").write_text("x")\n'
                                    '    return RunResult')
    target, _ = _package(tmp_path, "stray_one", **{"work.py": stray})
    checks = {c.name: c for c in smoke_run(target)}
    assert not checks["standard folders"].ok and "out.txt" in checks["standard folders"].reason

    wrong = GOOD["work.py"].replace('artifact_path="metrics"', 'artifact_path="results"')
    target, _ = _package(tmp_path, "misfiled_one", **{"work.py": wrong})
    checks = {c.name: c for c in smoke_run(target)}
    assert not checks["artifact paths"].ok and "results/m.json" in checks["artifact paths"].reason

    names = GOOD["work.py"].replace('"data.n": 3', '"lr": 3').replace('"test_accuracy": 0.5}})\n    path',
                                                                     '"accuracy": 0.5}})\n    path')
    target, _ = _package(tmp_path, "named_one", **{"work.py": names})
    check = logged_names(target)
    assert not check.ok and "accuracy" in check.reason


def test_check_command_exit_codes(cli_env):
    bad = run_cli(["plugins", "check", "echo", "--json"], cli_env, timeout=300)
    report = json.loads(bad.stdout)["echo"]
    assert bad.returncode == 1 and not report["ok"]
    assert {c["name"] for c in report["checks"] if not c["ok"]} >= {"own package", "README example"}
    none = run_cli(["plugins", "check"], cli_env)
    assert none.returncode == 2 and "--all" in none.stderr


# -- naming checks at log time --------------------------------------------------------------------------

class Sloppy(Plugin):
    info = PluginInfo(key="sloppy")

    def run(self, spec, *, context):
        for step in range(3):
            context.tracking.log_metric("accuracy", 0.5, step=step)
        context.tracking.log_params({"lr": 0.1, "model.depth": 3})
        context.tracking.set_tag("purpose", "fun")
        return RunResult()


def test_naming_slips_warn_once_each_and_fail_in_strict_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("CORE_STRICT_NAMES", raising=False)
    registry = Registry({"sloppy": Sloppy})
    outcome = run(RunSpec(plugin="sloppy"), artifact_root=tmp_path, registry=registry, backend=FakeTracking())
    assert outcome.status.value == "FINISHED"
    log = (outcome.run_dir / "logs" / "run.log").read_text()
    assert log.count("naming: metric 'accuracy'") == 1 and "param 'lr'" in log and "tag purpose='fun'" in log
    assert "model.depth" not in log
    strict = run(RunSpec(plugin="sloppy"), artifact_root=tmp_path, registry=registry, backend=FakeTracking(),
                 strict=True)
    assert strict.status.value == "FAILED" and "metric 'accuracy'" in strict.error
    monkeypatch.setenv("CORE_STRICT_NAMES", "1")
    env_strict = run(RunSpec(plugin="sloppy"), artifact_root=tmp_path, registry=registry, backend=FakeTracking())
    assert env_strict.status.value == "FAILED"


def test_names_mlflow_would_reject_fail_at_the_call_even_when_lenient(tmp_path):
    class Rejected(Plugin):
        info = PluginInfo(key="rejected")

        def run(self, spec, *, context):
            context.tracking.log_metric("val_loss!", 0.1)
            return RunResult()

    outcome = run(RunSpec(plugin="rejected"), artifact_root=tmp_path, registry=Registry({"rejected": Rejected}),
                  backend=FakeTracking(), strict=False)
    assert outcome.status.value == "FAILED" and "characters MLflow rejects" in outcome.error


def test_core_testing_kit_exports_the_fake_and_its_helpers():
    import core.testing as kit

    assert {"PluginContract", "FakeTracking", "FakeRun"} <= set(kit.__all__)
    assert Path(kit.__file__).name == "testing.py"
