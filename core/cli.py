"""The `core` command. Thin: each subcommand calls one function of the layers below,
imported only when that subcommand runs, so `core --help` stays fast.

Exit codes: 0 finished (or reproduced), 1 the run failed (or did not reproduce), 2 bad input, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from core._errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, CoreError, RunInterrupted, SpecError

PROG = "core"


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_errors = "--json" in given[: given.index("--")] if "--" in given else "--json" in given
    words = _command_words(given)
    parser = build_parser(only=words[0], action=words[1])
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser (argparse's top level would say `core: error`)
        command = _command_parser(parser, words)
        command.error(_unrecognized(command, unknown))
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    _configure_logging(args.verbose - args.quiet)
    args.entry_point = argv is None  # the `core` program itself, not a call from Python (see `core run`)
    try:
        return int(args.handler(args) or 0)
    except CoreError as exc:
        from core._redact import scrub

        message = str(exc)
        if isinstance(exc, SpecError) and getattr(args, "seed", None) is not None and exc.field == "seed":
            message += f" (from --seed {args.seed})"
        elif isinstance(exc, SpecError) and getattr(args, "overrides", None):
            from core._spec import override_behind

            given = override_behind(exc, args.overrides)
            message += f" (from --set {given})" if given and "--set" not in message else ""
        print(f"{PROG}: error: {scrub(message)}", file=sys.stderr)
        if getattr(args, "json", False):  # a script reading stdout gets one JSON document either way
            _print_error_json({"error": scrub(message), "exit_code": exc.exit_code, "kind": type(exc).__name__}
                              | ({"source": exc.source, "field": exc.field} if isinstance(exc, SpecError) else {}))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        _report_interrupted(exc)
        return EXIT_INTERRUPTED
    except RunInterrupted as exc:
        _report_interrupted(exc)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # `core runs list | head`: the reader left; say nothing more, as POSIX tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE


def _print_error_json(error: dict[str, object]) -> None:
    """`--json`'s document for bad input, on stdout; a reader that already left (`| head`) is no error."""
    from core._commands._output import print_json

    try:
        print_json(error)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _command_parser(parser: argparse.ArgumentParser, words: tuple[str, str]) -> argparse.ArgumentParser:
    """The parser of the command (and action) `words` name, else `parser` itself."""
    for word in words:
        found = None
        for act in parser._actions:
            if isinstance(act, argparse._SubParsersAction) and isinstance(act.choices, dict):
                found = act.choices.get(word)
        if not isinstance(found, argparse.ArgumentParser):
            break
        parser = found
    return parser


def _unrecognized(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """argparse's message, with the nearest option the command has for a mistyped one (--sed: --seed)."""
    import difflib

    options = [o for act in parser._actions for o in act.option_strings if o.startswith("--")]
    near = next((m for u in unknown if u.startswith("--")
                 for m in difflib.get_close_matches(u.split("=")[0], options, n=1, cutoff=0.75)), None)
    return f"unrecognized arguments: {' '.join(unknown)}" + (f"; did you mean {near}?" if near else "")


def _command_words(argv: Sequence[str]) -> tuple[str, str]:
    """The command `argv` names and the word after it (the action, for `runs`, `models`, `plugins`,
    `tracking`): its first two words that are not options ("" where there are none, as for `core
    --help`). Neither the top level's options (-v, -q, -h) nor those command groups' take a value."""
    words = [word for word in argv if not word.startswith("-")][:2]
    return (words + ["", ""])[0], (words + ["", ""])[1]


class _NotRun:
    """What a command this invocation does not run gets instead of its parser: its name and help are
    registered (for `core --help` and the choice), its arguments are not. Each argparse argument costs
    a help formatter (a terminal-size query), and all of them together were the biggest part of
    `core --help`'s time after Python's own start."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_defaults(self, **kwargs: Any) -> None:
        pass

    def add_subparsers(self, **kwargs: Any) -> _NotRun:
        return self

    def add_parser(self, *args: Any, **kwargs: Any) -> _NotRun:
        return self


def _command(sub: argparse._SubParsersAction | _NotRun, only: str | None, name: str, **kwargs: Any) -> Any:
    """`sub.add_parser(name, ...)`: the real parser when this invocation may run `name` (`only` is
    that command, or None: every one). Else the command is only listed, as `add_parser` lists it (its
    name among the choices, its help for `core --help`), with no parser made (each costs a help
    formatter too), and a `_NotRun` takes its arguments and drops them. `tests/test_cli.py` checks
    that the help is the same either way."""
    if isinstance(sub, _NotRun):
        return sub  # an action of a command that does not run
    if only is None or only == name:
        parser = sub.add_parser(name, **kwargs)
        # -v/-q after the command too (`core run spec.yaml -q`), as users type them; SUPPRESS keeps the
        # count given before the command when none comes after it
        parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return parser
    if "help" in kwargs:
        sub._choices_actions.append(argparse._SubParsersAction._ChoicesPseudoAction(name, (), kwargs["help"]))
    sub._name_parser_map[name] = None  # never looked up: the command line names another command
    return _NotRun()


class _Parser(argparse.ArgumentParser):
    """Bad flags are bad input like any other: one line on stderr and exit 2, not argparse's usage
    block above the message (its subcommands' parsers are of this class too)."""

    #: set by `main` when the command line asks for `--json`: a bad flag is then a JSON document on stdout too
    json_errors = False

    def error(self, message: str) -> NoReturn:
        from core._redact import scrub  # a flag's value may be a URI with credentials in it

        said = scrub(f"{message} (see: {self.prog} --help)")
        if _Parser.json_errors:
            _print_error_json({"error": said, "exit_code": EXIT_BAD_INPUT, "kind": "BadFlag", "command": self.prog})
        self.exit(2, f"{self.prog}: error: {said}\n")


def build_parser(only: str | None = None, action: str | None = None) -> argparse.ArgumentParser:
    """The whole `core` parser; with `only`, the arguments of that command alone, and with `action`
    too, of that action alone within it (every command and action is still listed and chosen by
    name): `main` builds just what the command line names."""
    action = action if only is not None else None
    parser = _Parser(
        prog=PROG,
        description="Run ML experiments through plugins, tracked in MLflow.",
        epilog="Exit codes: 0 finished, 1 run failed (a sweep: a run did not finish; rerun: not reproduced), "
        "2 bad input, 130 interrupted, 143 terminated.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = _command(sub, only, "run", help="run one spec file", description="Run one spec file (YAML, JSON or TOML).")
    p.add_argument("spec", help="path to the spec file")
    _add_override_flags(p)
    _add_location_flags(p)
    p.add_argument("--offline", action="store_true", help="journal tracking calls only; send later with `core sync`")
    p.add_argument("--strict-names", action="store_true", default=None,
                   help="param, metric and tag names that break the conventions fail the run "
                   "(default: one warning each; or set CORE_STRICT_NAMES=1)")
    p.add_argument("--register", metavar="NAME[@ALIAS]", default=None,
                   help="when the run FINISHES, register its MLflow Model (artifact path model) as a new version "
                   "of NAME in MLflow's Model Registry and point ALIAS at it (overrides the spec's register:)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(handler=_lazy("core._commands.run_cmd:run_command"))

    p = _command(sub, only, "validate", help="check a spec file without running it",
                       description="Check a spec file without running it: its fields, the plugin's own checks, "
                       "and that the earlier runs or models it names exist (in the artifact root or tracking).")
    p.add_argument("spec", help="path to the spec file")
    _add_override_flags(p)
    _add_location_flags(p)
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON")
    p.set_defaults(handler=_lazy("core._commands.run_cmd:validate_command"))

    p = _command(sub, only,
        "sync",
        help="send tracking calls that runs could not send (server down, --offline)",
        description="Replay each run's tracking journal past what the backend acknowledged; "
        "every call is sent once. Without RUN_IDs: every run with pending calls.",
    )
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="run ids or unambiguous prefixes")
    _add_location_flags(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_lazy("core._commands.tracking_cmd:sync_command"))

    p = _command(sub, only, "ui", help="open MLflow's web UI on the runs' store (needs mlcore[ui])")
    _add_location_flags(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    p.set_defaults(handler=_lazy("core._commands.tracking_cmd:ui_command"))

    p = _command(sub, only, "tracking", help="the local tracking service: status, stop",
                       description="The background process that keeps MLflow and the store open for runs "
                       "(off with CORE_TRACKING_SERVICE=off); one process may serve several local stores.")
    tsub = p.add_subparsers(title="tracking commands", metavar="ACTION")
    t = _command(tsub, action, "status", help="the artifact root's tracking services: pid, stores its process serves, state, clients, calls, idle time")
    _add_root_flag(t)
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(handler=_lazy("core._commands.tracking_cmd:service_status_command"))
    t = _command(tsub, action, "stop", help="stop the artifact root's tracking services (a process serving other stores goes on with them; runs then start a new one)")
    _add_root_flag(t)
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(handler=_lazy("core._commands.tracking_cmd:service_stop_command"))
    p.set_defaults(handler=_lazy("core._commands.tracking_cmd:service_status_command"), json=False, artifact_root=None)

    p = _command(sub, only,
        "sweep",
        help="run many configs of one spec: grid, random or adaptive search (Optuna), in parallel, ranked",
        description="Run the configs of a sweep file (a spec with a `sweep:` section): `grid` and/or `random` "
        "expand them all up front; `search` (the optuna extra) asks Optuna's sampler for each next config "
        "(tpe, cmaes, random, qmc, grid), up to `trials` or `timeout`, and its pruner (median, hyperband, "
        "successive_halving) stops runs whose stepped metric lags (they end PRUNED). Failures are reported as "
        "they happen; the sweep exits 0 when every run FINISHED or was PRUNED, 1 if any did not, 2 on bad "
        "input (a search whose first run did not log its metric, too). The README's 'Sweeps' section has "
        "every field.",
    )
    p.add_argument("file", help="the sweep file (YAML, JSON or TOML)")
    p.add_argument("--dry-run", action="store_true", help="list and validate the expanded runs, run nothing")
    p.add_argument("--executor", choices=("sequential", "process", "ray"), default="process",
                   help="where runs execute (default: process, a pool of worker processes)")
    p.add_argument("--max-workers", type=int, default=None,
                   help="runs in flight at once, on any executor or cluster (default: the CPUs, the cluster's CPUs)")
    p.add_argument("--ray-address", default=None,
                   help="an existing Ray cluster, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS, else a "
                   "private local Ray for this sweep)")
    p.add_argument("--ray-num-cpus", type=float, default=None, metavar="N", help="CPUs per run (Ray; default 1)")
    p.add_argument("--ray-num-gpus", type=float, default=None, metavar="N", help="GPUs per run (Ray; default 0)")
    p.add_argument("--ray-resource", action="append", default=[], metavar="NAME=AMOUNT",
                   help="a custom Ray resource each run needs, to pin runs to nodes started with it (repeatable)")
    p.add_argument("--ray-runtime-env", default=None, metavar="FILE",
                   help="Ray runtime_env for the runs (YAML or JSON: pip, py_modules, working_dir, env_vars)")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="new attempts of a run whose Ray worker or node was lost (default: 1)")
    p.add_argument("--retry-failed", type=int, default=0, metavar="N",
                   help="new attempts of a run that FAILED (its plugin raised; default: 0)")
    p.add_argument("--metric", default=None,
                   help="rank by this metric, and for a search optimise and prune on it (default: the file's)")
    p.add_argument("--mode", choices=("max", "min"), default=None,
                   help="best is max or min (default: the file's, else by the metric's name: loss/error-like min)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="SWEEP_ID",
                   help="continue a sweep with its own file: skip runs that FINISHED in it; a search continues "
                   "its study, up to the file's trials (default: the latest sweep of this name)")
    p.add_argument("--name", default=None, help="sweep name (default: sweep.name, else the file's stem)")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="a search's most trials (default: its search.trials); with --resume, a bigger N goes on")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_override_flags(p)
    _add_location_flags(p)
    p.set_defaults(handler=_lazy("core._commands.sweep_cmd:sweep_command"))

    p = _command(sub, only, "runs", help="look at runs in the artifact root: list, show, spec, compare, repair",
                       description="Read the run folders (fast, offline; no tracking server needed).")
    rsub = p.add_subparsers(title="runs commands", metavar="ACTION")
    r = _command(rsub, action, "list", help="runs, newest first, with status and headline metrics",
                        description="A run recorded RUNNING whose process is gone is shown DEAD.")
    r.add_argument("--plugin", help="only this plugin's runs")
    r.add_argument("--status", help="only runs with this status (FINISHED, FAILED, KILLED, PRUNED, RUNNING, DEAD)")
    r.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="only runs with this tag (repeatable)")
    r.add_argument("--since", metavar="WHEN", help="only runs started since: 30m, 2h, 7d, 2w or a date (2026-11-26)")
    r.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    r.add_argument("--json", action="store_true", help="print JSON")
    _add_root_flag(r)
    r.set_defaults(handler=_lazy("core._commands.runs_cmd:list_command"))
    r = _command(rsub, action, "show", help="one run: summary, params, metrics, tags, files, error")
    r.add_argument("run_id", metavar="RUN_ID", help="run id or an unambiguous prefix")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.add_argument("--fetch", action="store_true",
                   help="a run that ran on another node (a Ray sweep): bring its folder from the tracking server first")
    _add_root_flag(r)
    r.set_defaults(handler=_lazy("core._commands.runs_cmd:show_command"))
    r = _command(rsub, action, "spec", help="a run's resolved spec as a spec file: run it again, or sweep around it",
                 description="Prints the spec the run ran with (a sweep's values in place, the seed it used) as "
                 "YAML that `core run` takes: e.g. a search's best run, `core runs spec ID -o best.yaml`.")
    r.add_argument("run_id", metavar="RUN_ID", help="run id or an unambiguous prefix")
    r.add_argument("-o", "--output", metavar="FILE", help="write it to FILE (.yaml) instead of printing it")
    r.add_argument("--force", action="store_true", help="with --output: replace FILE if it exists")
    _add_root_flag(r)
    r.set_defaults(handler=_lazy("core._commands.runs_cmd:spec_command"))
    r = _command(rsub, action, "fetch", help="bring a run that ran on another node (a Ray sweep) here from the tracking server")
    r.add_argument("run_id", metavar="RUN_ID", help="run id or an unambiguous prefix")
    r.add_argument("--json", action="store_true", help="print JSON")
    _add_location_flags(r)
    r.set_defaults(handler=_lazy("core._commands.fetch_cmd:fetch_command"))
    r = _command(rsub, action, "compare", help="params that differ and metrics side by side, best marked")
    r.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more run ids or prefixes")
    r.add_argument("--plot", metavar="METRIC", help="write a PNG of METRIC across the runs: its history as lines, or "
                   "one bar per run for a metric without steps (needs matplotlib)")
    r.add_argument("--output", "--out", metavar="PNG",
                   help="where --plot writes (default: ARTIFACT_ROOT/comparisons/METRIC_FIRST_LAST.png)")
    r.add_argument("--json", action="store_true", help="print JSON")
    _add_root_flag(r)
    r.set_defaults(handler=_lazy("core._commands.runs_cmd:compare_command"))
    r = _command(rsub, action, "repair", help="end runs whose process died (DEAD) as KILLED, on disk and in MLflow",
                        description="A run left RUNNING by a process that no longer exists is marked KILLED in "
                        "its summary and in MLflow; every tracking call in its journal is sent first.")
    r.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="run ids or prefixes (default: every DEAD run)")
    r.add_argument("--json", action="store_true", help="print JSON")
    _add_location_flags(r)
    r.set_defaults(handler=_lazy("core._commands.runs_cmd:repair_command"))
    p.set_defaults(handler=_lazy("core._commands.runs_cmd:list_command"), json=False, plugin=None, status=None,
                   tag=[], since=None, limit=50, artifact_root=None)

    p = _command(sub, only,
        "rerun",
        help="run a finished run's recorded spec and seed again and check the result reproduces",
        description="Runs the recorded resolved spec and seed as a new run (tag rerun_of), then compares every "
        "final metric within tolerance and the environment. Exit 0 reproduced, 1 not.",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="run id or an unambiguous prefix")
    p.add_argument("--rtol", type=float, default=1e-7, help="relative tolerance per metric (default: 1e-7)")
    p.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance per metric (default: 1e-9)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_location_flags(p)
    p.set_defaults(handler=_lazy("core._commands.runs_cmd:rerun_command"))

    p = _command(sub, only, "models", help="registered MLflow Models: list, show, serve",
                       description="MLflow's Model Registry on the runs' store: the versions runs registered "
                       "(core run --register NAME@ALIAS, or register: in the spec), their aliases, the core run "
                       "each came from and its headline metric; and MLflow's scoring server for one.")
    msub = p.add_subparsers(title="models commands", metavar="ACTION")
    m = _command(msub, action, "list", help="every registered version: aliases, source core run, headline metric",
                        description="Every version of every registered model, newest first within a name.")
    m.add_argument("--json", action="store_true", help="print JSON")
    _add_location_flags(m)
    m.set_defaults(handler=_lazy("core._commands.models_cmd:list_command"))
    m = _command(msub, action, "show", help="one model's versions, or one version (NAME@ALIAS, NAME/VERSION)",
                        description="NAME: every version of it; NAME@ALIAS or NAME/VERSION: that version "
                        "(models:/ in front is accepted). Unknown names, aliases and versions exit 2 naming "
                        "what exists.")
    m.add_argument("model", metavar="NAME[@ALIAS|/VERSION]", help="a registered model, or one of its versions")
    m.add_argument("--json", action="store_true", help="print JSON")
    _add_location_flags(m)
    m.set_defaults(handler=_lazy("core._commands.models_cmd:show_command"))
    m = _command(msub, action, "serve", help="MLflow's scoring server for a model URI on 127.0.0.1 (needs mlcore[ui])",
                        description="Runs `mlflow models serve -m URI --env-manager local` on 127.0.0.1 against "
                        "the runs' store (this Python environment, no new one). POST rows to /invocations, e.g. "
                        "curl -d '{\"dataframe_records\": [...]}' -H 'Content-Type: application/json' "
                        "http://127.0.0.1:PORT/invocations. Ctrl-C or SIGTERM stops it.")
    m.add_argument("uri", metavar="URI", help="runs:/<mlflow run id>/model, models:/NAME@ALIAS or models:/NAME/VERSION")
    m.add_argument("--port", type=int, default=5001, help="port on 127.0.0.1 (default: 5001)")
    _add_location_flags(m)
    m.set_defaults(handler=_lazy("core._commands.models_cmd:serve_command"))
    p.set_defaults(handler=_lazy("core._commands.models_cmd:list_command"), json=False, artifact_root=None,
                   tracking_uri=None)

    p = _command(sub, only, "plugins", help="installed plugins: list, show, new, check")
    psub = p.add_subparsers(title="plugins commands", metavar="ACTION")
    pl = _command(psub, action, "list", help="key, version, description and whether its extra is installed")
    pl.add_argument("--json", action="store_true", help="print JSON")
    pl.set_defaults(handler=_lazy("core._commands.plugins_cmd:list_command"))
    ps = _command(psub, action, "show", help="one plugin: extra, config fields, examples, README")
    ps.add_argument("key", help="plugin key")
    ps.add_argument("--json", action="store_true", help="print JSON")
    ps.add_argument("--no-readme", action="store_true", help="leave out the plugin's README (shown as text)")
    ps.set_defaults(handler=_lazy("core._commands.plugins_cmd:show_command"))
    pn = _command(psub, action, "new", help="scaffold a plugin that passes `core plugins check` and runs as it is",
                         description="Without --dest: plugins/NAME/ in this checkout, registered in its "
                         "pyproject.toml. With --dest DIR: a package of its own with its own pyproject.toml.")
    pn.add_argument("name", help="the plugin key and package name (lower_snake_case)")
    pn.add_argument("--dest", default=None, metavar="DIR", help="make a separate package in DIR")
    pn.set_defaults(handler=_lazy("core._commands.plugins_cmd:new_command"))
    pc = _command(psub, action, "check", help="the conventions' checklist, pass/fail per item; exit 0 only if all pass")
    pc.add_argument("keys", nargs="*", metavar="KEY", help="plugin keys")
    pc.add_argument("--all", action="store_true", help="every installed plugin")
    pc.add_argument("--json", action="store_true", help="print JSON (for CI)")
    pc.set_defaults(handler=_lazy("core._commands.plugins_cmd:check_command"))
    p.set_defaults(handler=_lazy("core._commands.plugins_cmd:list_command"), json=False)
    return parser


def _add_override_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field, e.g. --set data_spec.model.max_depth=5 (repeatable)",
    )
    p.add_argument("--seed", type=int, default=None, help="override the spec's seed")


def _add_root_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifact-root", default=None, help="where run folders go (default: $CORE_ARTIFACT_ROOT or ./artifacts)")


def _add_location_flags(p: argparse.ArgumentParser) -> None:
    _add_root_flag(p)
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow URI, or 'memory' (default: $CORE_TRACKING_URI or an SQLite store in the artifact root)",
    )


def _lazy(target: str) -> Callable[[argparse.Namespace], Any]:
    def handler(args: argparse.Namespace) -> Any:
        import importlib

        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)(args)

    return handler


def _configure_logging(level: int) -> None:
    from core._redact import ScrubFilter, scrub_every_record
    from core._runlog import CONSOLE_ATTR

    scrub_every_record()  # MLflow's own handlers too: no URI credentials in any log line
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ScrubFilter())
    handler.addFilter(lambda record: getattr(record, CONSOLE_ATTR, True))  # lines meant for the run's log only
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("mlcore")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    handler.setLevel(logging.WARNING if level < 0 else logging.DEBUG if level > 0 else logging.INFO)
    root.propagate = False
    # MLflow and alembic narrate schema migrations at INFO, and MLflow, SQLAlchemy and alembic print whole
    # tracebacks for a store they cannot write (185 lines for one read-only folder): core reports such
    # trouble in one line of its own. So their records reach the console only with -v; during a run they
    # go to the run's log (core._runlog). MLflow installs its own handler when imported unless told not to.
    from core._runlog import LIBRARY_LOGGERS

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers = [handler] if level > 0 else [logging.NullHandler()]
        library.propagate = False
        library.setLevel(logging.WARNING)


def _report_interrupted(exc: BaseException) -> None:
    outcome = getattr(exc, "outcome", None)
    if outcome is not None:
        print(f"run {outcome.run_id} {outcome.status.value} ({outcome.error})", file=sys.stderr)
        print(f"  folder: {outcome.run_dir}", file=sys.stderr)
    else:
        print(f"{PROG}: interrupted", file=sys.stderr)
