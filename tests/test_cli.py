"""`core run`, `core validate` and `core plugins list` as a user types them."""

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import only_run_dir, read_summary, run_cli, write_spec


def test_run_json_prints_one_object(cli_env, tmp_path):
    """`--json` prints run id, status, outputs and the run folder as one JSON object."""
    spec = write_spec(tmp_path / "echo.yaml", "plugin: echo\n")
    proc = run_cli(["run", str(spec), "--json", "--tracking-uri", "memory"], cli_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "FINISHED" and data["outputs"] == {"answer": 42}
    assert data["run_dir"].endswith(data["run_id"])


def test_bad_input_with_json_is_one_json_object_on_stdout_too(cli_env, tmp_path):
    """A script that reads `--json` output gets a JSON document for bad input as well (the error, the
    file and field, the exit code); the one-line error is still said on stderr."""
    spec = write_spec(tmp_path / "bad.yaml", "plugin: echo\nbogus: 1\n")
    proc = run_cli(["run", str(spec), "--json", "--tracking-uri", "memory"], cli_env)
    assert proc.returncode == 2 and "field 'bogus'" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["exit_code"] == 2 and data["kind"] == "SpecError" and data["field"] == "bogus"
    assert data["source"] == str(spec) and "field 'bogus'" in data["error"]
    proc = run_cli(["runs", "show", "nope", "--json"], cli_env)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"].startswith("no run 'nope'")
    flag = run_cli(["runs", "list", "--json", "--limit", "abc"], cli_env)  # refused by argparse itself
    assert flag.returncode == 2 and "invalid int value" in flag.stderr
    assert json.loads(flag.stdout)["kind"] == "BadFlag" and json.loads(flag.stdout)["command"] == "core runs list"
    # A reader that left (`| head`) before the error's document: still exit 2, no traceback.
    gone = subprocess.Popen([sys.executable, "-m", "core", "runs", "show", "nope", "--json"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gone.stdout.close()
    assert gone.wait(timeout=60) == 2 and "Traceback" not in gone.stderr.read()


def test_failed_run_exits_1(cli_env, tmp_path):
    """A plugin that raises gives exit 1 and says where the traceback is."""
    spec = write_spec(tmp_path / "fail.yaml", "plugin: ext_fail\n")
    proc = run_cli(["run", str(spec), "--tracking-uri", "memory"], cli_env)
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "exception.txt" in proc.stdout


@pytest.mark.parametrize(
    "content, args, words",
    [
        ("plugin: nope\n", [], ["field 'plugin'", "unknown plugin 'nope'", "installed:", "echo"]),
        ("plugin: echo\nbogus: 1\n", [], ["field 'bogus'", "allowed:"]),
        ("plugin: [\n", [], ["invalid YAML"]),
        ("plugin: echo\n", ["--set", "nokey"], ["expected KEY=VALUE"]),
        ("plugin: echo\nexperiment: fine\n", ["--set", "experiment="],  # the value refused is the flag's
         ["spec.yaml: field 'experiment'", "blank", "(from --set experiment=)"]),
        ("plugin: echo\nseed: 7\n", ["--seed", "-1"], ["field 'seed'", "out of range", "(from --seed -1)"]),
        ("plugin: echo\n", ["--sed", "3"], ["core run: error: unrecognized arguments: --sed 3",
                                             "did you mean --seed?"]),
        ("plugin: echo\n", ["--seed", "abc"], ["--seed", "invalid int"]),
        ("plugin: echo\n", ["--tracking-uri", "ftp://x"], ["tracking URI", "allowed"]),
        ("plugin: ext_broken\n", [], ["ext_broken", "failed to load", "this_module_does_not_exist"]),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_run_folder(cli_env, tmp_path, content, args, words):
    """Bad specs, flags and plugins: exit 2, one clear line on stderr, no traceback, no run folder."""
    spec = write_spec(tmp_path / "spec.yaml", content)
    proc = run_cli(["run", str(spec), *args], cli_env)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err  # argparse's errors too: no usage block above them
    for word in words:
        assert word in err
    assert not (tmp_path / "artifacts" / "runs").exists()


def test_a_run_says_its_outcome_once(cli_env, tmp_path):
    """The outcome, with the run's time, once on stdout; the run's log ends with the same line, which
    the console does not repeat."""
    proc = run_cli(["run", str(write_spec(tmp_path / "spec.yaml", "plugin: echo\n"))], cli_env)
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(tmp_path / "artifacts")
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "FINISHED" in line]
    assert said == [line for line in proc.stdout.splitlines() if line.startswith(f"run {run_dir.name} FINISHED in ")]
    assert len(said) == 1
    assert f"run {run_dir.name} FINISHED in " in (run_dir / "logs" / "run.log").read_text().splitlines()[-1]


def test_runs_list_refuses_an_unknown_status_and_tracking_alone_shows_the_status(cli_env):
    bad = run_cli(["runs", "list", "--status", "BOGUS"], cli_env)
    assert bad.returncode == 2 and "--status: unknown status 'BOGUS' (allowed: RUNNING, FINISHED" in bad.stderr
    status = run_cli(["tracking"], cli_env)
    assert status.returncode == 0 and "no tracking service in" in status.stdout, status.stderr


def test_validate_checks_without_running(cli_env, tmp_path):
    """`core validate` accepts a good spec, rejects a bad one, and runs nothing."""
    good = write_spec(tmp_path / "good.yaml", "plugin: echo\n")
    proc = run_cli(["validate", str(good)], cli_env)
    assert proc.returncode == 0 and "valid" in proc.stdout
    bad = write_spec(tmp_path / "bad.yaml", "plugin: echo\nseed: x\n")
    proc = run_cli(["validate", str(bad)], cli_env)
    assert proc.returncode == 2 and "field 'seed'" in proc.stderr
    assert not (tmp_path / "artifacts").exists()


def test_plugins_list_reports_and_skips_broken_plugins(cli_env):
    """Working plugins are listed with versions; a broken one is reported on stderr, not listed."""
    proc = run_cli(["plugins", "list"], cli_env)
    assert proc.returncode == 0
    assert "echo" in proc.stdout and "0.3.0" in proc.stdout and "Logs a few things" in proc.stdout
    assert "ext_broken" not in proc.stdout
    assert "ext_broken" in proc.stderr and "this_module_does_not_exist" in proc.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_ends_run_as_killed_with_summary(mlflow_env, tmp_path, sig, code):
    """Ctrl-C and SIGTERM end the run KILLED: summary written, metrics kept, MLflow says KILLED."""
    spec = write_spec(tmp_path / "sleep.yaml", "plugin: ext_sleep\ndata_spec: {seconds: 60}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "run", str(spec)], env=mlflow_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    root = tmp_path / "artifacts"
    deadline = time.time() + 240
    while time.time() < deadline and not list(root.glob("runs/*/ready")):
        time.sleep(0.05)
    assert list(root.glob("runs/*/ready")), "plugin never became ready"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == code, err
    run_dir = only_run_dir(root)
    summary = read_summary(run_dir)
    assert summary["status"] == "KILLED"
    assert summary["metrics"] == {"train_loss": pytest.approx(1 / 3)}
    assert summary["error"]["message"] == f"interrupted by {sig.name}"

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    mlflow_run = client.get_run(summary["tracking"]["run_id"])
    assert mlflow_run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(mlflow_run.info.run_id, "train_loss")] == [0, 1, 2]


def _subcommands(parser):
    import argparse

    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def test_the_parser_built_for_one_command_is_that_command_whole():
    """`main` builds only the arguments of the command its line names (the rest are listed by name and
    help): each command's parser, and its actions' parsers, say exactly what the whole parser's say."""
    from core.cli import build_parser

    full = build_parser()
    assert build_parser(only="").format_help() == full.format_help()
    assert set(_subcommands(build_parser(only=""))) == set(_subcommands(full))
    for name, whole in _subcommands(full).items():
        part = _subcommands(build_parser(only=name, action=""))[name]  # `core runs`: the group, no action
        assert part.format_help() == whole.format_help(), name
        for action, nested in _subcommands(whole).items():
            built = _subcommands(_subcommands(build_parser(only=name, action=action))[name])[action]
            assert built.format_help() == nested.format_help(), (name, action)
            assert built._defaults.keys() == nested._defaults.keys(), (name, action)
        plain = lambda defaults: {k: (v if k != "handler" else callable(v)) for k, v in defaults.items()}  # noqa: E731
        assert plain(part._defaults) == plain(whole._defaults), name  # a handler, and the same defaults
        assert [(a.dest, a.default) for a in part._actions] == [(a.dest, a.default) for a in whole._actions], name


def test_verbose_and_quiet_also_after_the_command(cli_env, tmp_path):
    """`core run spec.yaml -q` as users type it: the flag is taken after the command as before it."""
    spec = write_spec(tmp_path / "spec.yaml", "plugin: echo\n")
    for argv in (["run", str(spec), "-q"], ["-q", "run", str(spec)], ["runs", "list", "-v"]):
        proc = run_cli(argv, cli_env)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert "unrecognized arguments" not in proc.stderr
