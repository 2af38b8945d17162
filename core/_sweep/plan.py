"""A sweep file is a spec file with a `sweep:` section; expanding it gives one resolved spec per run.

    plugin: sklearn_classifier
    seed: 0
    data_spec: {model: {type: random_forest}}
    sweep:
      name: rf-depth                  # default: the file's stem
      seed: 7                         # fixes the random draws
      metric: test_accuracy           # ranks the table (--metric overrides)
      mode: max                       # or min; default: min for loss-like names, else max
      grid:                           # every combination of these lists
        data_spec.model.n_estimators: [50, 100]
        data_spec.model.max_depth: [3, 6, null]
      random:                         # `count` draws (per grid point, when both are given)
        count: 4
        params:
          data_spec.model.min_samples_leaf: {int: [1, 10]}        # inclusive
          data_spec.model.max_features: {choice: [sqrt, log2]}
          data_spec.model.ccp_alpha: {log_uniform: [1.0e-5, 1.0e-2]}
          data_spec.model.max_samples: {uniform: [0.5, 1.0]}
      ray:                            # per run, for --executor ray (the --ray-* options override)
        num_cpus: 2
        num_gpus: 1                   # GPU runs land on GPU nodes
        resources: {big_memory: 1}    # custom resources the nodes were started with
        runtime_env: {pip: [scikit-learn==1.6.1]}   # Ray's runtime_env, passed through to the tasks

Or, instead of grid/random, an adaptive search (Optuna: imported only when such a sweep runs):

    sweep:
      metric: val_loss
      mode: min
      search:
        sampler: tpe                  # tpe (default), cmaes, random, qmc, grid
        trials: 30                    # and/or timeout: 3600 (seconds)
        seed: 7                       # default: sweep.seed
        startup_trials: 10            # random trials before the sampler models (the pruner has its own)
        pruner: median                # median (default), percentile, hyperband, successive_halving, none,
                                      # or {type: median, warmup_steps: 2, interval_steps: 1, ...},
                                      # or {type: percentile, percentile: 25, warmup_steps: 2, ...}
        params:                       # as `random`, plus `step` for a discrete grid of numbers
          data_spec.train.lr: {log_uniform: [1.0e-4, 1.0e-1]}
          data_spec.model.width: {int: [16, 256], step: 16}
          data_spec.model.dropout: {uniform: [0.0, 0.5]}
          data_spec.model.activation: {choice: [relu, gelu]}

Keys are the dotted keys of `core run --set`. Pure Python: no plugin is imported here.
"""

from __future__ import annotations

import copy
import dataclasses
import decimal
import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core._errors import BadInput, SpecError
from core._records import lower_is_better
from core._spec import apply_overrides, read_spec_file, set_dotted, spec_from_mapping
from core.contracts import RunSpec

SWEEP_FIELDS = ("name", "seed", "metric", "mode", "grid", "random", "search", "ray")
SEARCH_FIELDS = ("sampler", "trials", "timeout", "params", "metric", "mode", "seed", "pruner", "startup_trials")
SAMPLERS = ("tpe", "cmaes", "random", "qmc", "grid")
PRUNERS = ("median", "percentile", "hyperband", "successive_halving", "none")
#: each pruner's options in a sweep file (Optuna's names, `n_startup_trials` as `startup_trials`)
PRUNER_OPTIONS = {
    "median": ("startup_trials", "warmup_steps", "interval_steps", "min_trials"),
    # the median pruner with another cut: `percentile: 25` keeps the trials in the best quarter at each step
    "percentile": ("percentile", "startup_trials", "warmup_steps", "interval_steps", "min_trials"),
    "hyperband": ("min_resource", "max_resource", "reduction_factor"),
    "successive_halving": ("min_resource", "reduction_factor", "min_early_stopping_rate"),
    "none": (),
}
#: `sweep.ray`: what each run asks of a Ray cluster (the `--ray-*` options override it)
RAY_FIELDS = ("num_cpus", "num_gpus", "resources", "runtime_env")
DISTRIBUTIONS = ("choice", "uniform", "log_uniform", "int")
MAX_RUNS = 10_000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class PlannedRun:
    index: int
    overrides: dict[str, Any]
    spec: RunSpec

    @property
    def key(self) -> str:
        """Identifies the resolved spec: resume skips a key that already FINISHED in the sweep."""
        text = json.dumps(self.spec.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SearchSettings:
    """`sweep.search`, checked (pure Python; `core._sweep.search` turns it into Optuna's objects)."""

    sampler: str
    trials: int | None
    timeout: float | None
    params: dict[str, dict[str, Any]]
    metric: str
    mode: str
    seed: int | None
    pruner: str
    pruner_options: dict[str, Any]
    startup_trials: int | None

    @property
    def budget(self) -> int:
        """The most trials this search makes (`trials`, else as many as a sweep may have)."""
        return self.trials if self.trials is not None else MAX_RUNS


@dataclass
class SweepPlan:
    name: str
    source: str
    base: dict[str, Any]
    seed: int | None
    metric: str | None
    mode: str | None
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random_count: int = 0
    random_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[PlannedRun] = field(default_factory=list)
    #: `sweep.search`, checked: an adaptive search, whose runs are asked of Optuna as it goes (`runs`
    #: then grows as trials are made; see `core._sweep.search`)
    search: SearchSettings | None = None
    #: `sweep.ray`, checked: keyword arguments of `core._sweep.ray_executor.RayOptions`
    ray: dict[str, Any] = field(default_factory=dict)


def load_sweep(path: str | Path, *, overrides: list[str] = (), name: str | None = None, metric: str | None = None,
               mode: str | None = None, trials: int | None = None) -> SweepPlan:
    """Read, validate and expand a sweep file. Errors name the file and the field. `name`, `metric`,
    `mode` and a search's `trials` (the command's flags) win over the file's: a search then optimises
    what the table ranks by."""
    source = str(path)
    data = read_spec_file(path)
    section = data.pop("sweep", None)
    if section is None:
        raise SpecError("a sweep file needs a 'sweep:' section (grid and/or random, or search)", source=source,
                        field="sweep")
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping", source=source, field="sweep")
    base = apply_overrides(data, overrides, source=source)
    spec_from_mapping(base, source=source)  # the base must be a valid spec on its own
    section = _with_flags(section, name=name, metric=metric, mode=mode, trials=trials, source=source)
    plan = _parse_section(section, source, base, default_name=Path(path).stem)
    if plan.search is None:
        plan.runs = expand(plan)
    return plan


def _with_flags(section: Mapping[str, Any], *, name: str | None, metric: str | None, mode: str | None,
                trials: int | None = None, source: str = "") -> Mapping[str, Any]:
    """`section` as if the file said the flags given: each replaces the file's field wherever the file
    has it (`sweep.metric` or `sweep.search.metric`), so a file without a metric, or with two that
    disagree, runs with `--metric`. The objective follows `new_objective`."""
    if name is None and metric is None and mode is None and trials is None:
        return section
    out = dict(section)
    search = dict(out["search"]) if isinstance(out.get("search"), Mapping) else None
    if trials is not None:
        if search is None:
            raise BadInput(f"--trials: {source} is not a search (no sweep.search): its runs are its grid and random draws")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise BadInput(f"--trials: must be a positive number of trials, got {trials!r}")
        search["trials"] = trials
    if name is not None:
        out["name"] = name
    if metric is not None or mode is not None:
        inner = search or {}
        old_metric, old_mode = inner.get("metric", out.get("metric")), inner.get("mode", out.get("mode"))
        new_metric, new_mode = new_objective(old_metric, old_mode, metric, mode)
        for fields in (out, search) if search is not None else (out,):
            fields.pop("metric", None)
            fields.pop("mode", None)
        if new_metric is not None:
            out["metric"] = new_metric
        if new_mode is not None:
            out["mode"] = new_mode
    if search is not None:
        out["search"] = search
    return out


def new_objective(old_metric: str | None, old_mode: str | None, metric: str | None,
                  mode: str | None) -> tuple[str | None, str | None]:
    """The metric and mode after `--metric/--mode` (or `SweepOptions`' metric and mode): the one rule.
    A new metric without a mode drops the old mode (it was the old metric's): None, the mode then
    follows the new metric's name, as when a file gives none."""
    if metric is not None and (not isinstance(metric, str) or not metric.strip()):
        raise BadInput(f"--metric: must be a metric name, got {metric!r}")
    if mode is not None and mode not in ("max", "min"):
        raise BadInput(f"--mode: must be 'max' or 'min', got {mode!r}")
    new_metric = metric if metric is not None else old_metric
    return new_metric, mode if mode is not None else (old_mode if new_metric == old_metric else None)


def with_objective(plan: SweepPlan, metric: str | None = None, mode: str | None = None) -> SweepPlan:
    """`plan` ranked by `metric` in `mode` (`SweepOptions`' metric and mode; `load_sweep` applies the
    same flags to the file), and for a search also optimised and pruned on them (`new_objective`)."""
    if metric is None and mode is None:
        return plan
    new_metric, new_mode = new_objective(plan.metric, plan.mode, metric, mode)
    if new_metric == plan.metric and new_mode == plan.mode:
        return plan
    if plan.search is None:  # an unset mode is left to the ranking, which infers it from the name the same way
        return dataclasses.replace(plan, metric=new_metric, mode=new_mode)
    if new_mode is None:
        new_mode = "min" if lower_is_better(new_metric) else "max"
    search = dataclasses.replace(plan.search, metric=new_metric, mode=new_mode)
    return dataclasses.replace(plan, metric=new_metric, mode=new_mode, search=search)


def _parse_section(section: Mapping[str, Any], source: str, base: dict[str, Any], *, default_name: str) -> SweepPlan:
    unknown = [k for k in section if k not in SWEEP_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"sweep.{unknown[0]}", allowed=SWEEP_FIELDS,
                        got=unknown[0])
    name = section.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(f"must be a name of letters, digits, '_', '-', '.', got {name!r}", source=source,
                        field="sweep.name")
    seed = section.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SpecError(f"must be an integer, got {seed!r}", source=source, field="sweep.seed")
    metric = section.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise SpecError(f"must be a metric name, got {metric!r}", source=source, field="sweep.metric")
    mode = section.get("mode")
    if mode is not None and mode not in ("max", "min"):
        raise SpecError(f"unknown mode {mode!r}", source=source, field="sweep.mode", allowed=("max", "min"))
    if section.get("search") is not None:
        return _parse_search_section(section, source, base, name, seed, metric, mode)
    grid = section.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise SpecError("must be a mapping of dotted keys to lists", source=source, field="sweep.grid")
    for key, values in grid.items():
        _check_key(key, source, f"sweep.grid.{key}")
        if not isinstance(values, list) or not values:
            raise SpecError(f"must be a non-empty list of values, got {values!r}", source=source,
                            field=f"sweep.grid.{key}")
    count, params = _parse_random(section.get("random"), source)
    if not grid and not count:
        raise SpecError("needs a grid or random draws (or both)", source=source, field="sweep")
    plan = SweepPlan(name, source, base, seed, metric, mode, {k: list(v) for k, v in grid.items()}, count, params)
    plan.ray = parse_ray(section.get("ray"), source, "sweep.ray")
    total = math.prod(len(v) for v in plan.grid.values()) * (count or 1)
    if total > MAX_RUNS:
        raise SpecError(f"expands to {total} runs, more than {MAX_RUNS}", source=source, field="sweep")
    return plan


def _parse_search_section(section: Mapping[str, Any], source: str, base: dict[str, Any], name: str,
                          seed: int | None, metric: str | None, mode: str | None) -> SweepPlan:
    both = [k for k in ("grid", "random") if section.get(k)]
    if both:
        raise SpecError("an adaptive search chooses its own runs: give either 'search' or grid/random", source=source,
                        field=f"sweep.{both[0]}")
    search = parse_search(section["search"], source, seed=seed, metric=metric, mode=mode)
    plan = SweepPlan(name, source, base, seed, search.metric, search.mode)
    plan.search = search
    plan.ray = parse_ray(section.get("ray"), source, "sweep.ray")
    return plan


def parse_search(section: Any, source: str, *, seed: int | None = None, metric: str | None = None,
                 mode: str | None = None) -> SearchSettings:
    """`sweep.search` checked field by field; every mistake is one line naming the field and what is allowed."""
    where = "sweep.search"
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping", source=source, field=where, allowed=SEARCH_FIELDS)
    unknown = [k for k in section if k not in SEARCH_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"{where}.{unknown[0]}", allowed=SEARCH_FIELDS,
                        got=unknown[0])
    sampler = section.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise SpecError(f"unknown sampler {sampler!r}", source=source, field=f"{where}.sampler", allowed=SAMPLERS,
                        got=sampler)
    trials = section.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_RUNS):
        raise SpecError(f"must be a number of trials from 1 to {MAX_RUNS}, got {trials!r}", source=source,
                        field=f"{where}.trials")
    timeout = section.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise SpecError(f"must be a positive number of seconds, got {timeout!r}", source=source,
                        field=f"{where}.timeout")
    params = _parse_params(section.get("params"), source, f"{where}.params", steps=True)
    if sampler == "grid":
        bad = next((k for k, d in params.items() if "choice" not in d and "step" not in d), None)
        if bad is not None:
            raise SpecError("the grid sampler needs a finite set of values", source=source,
                            field=f"{where}.params.{bad}", allowed="{choice: [...]}, or int/uniform with a step")
        if trials is None and timeout is None:
            trials = math.prod(len(grid_values(d)) for d in params.values())
    if trials is None and timeout is None:
        raise SpecError("needs 'trials' (a number) or 'timeout' (seconds), or both", source=source, field=where)
    found_metric = section.get("metric", metric)
    if not isinstance(found_metric, str) or not found_metric:
        raise SpecError("needs the metric to optimise and prune on (a stepped metric the plugin logs, e.g. "
                        "val_loss)", source=source, field=f"{where}.metric")
    if metric is not None and section.get("metric") not in (None, metric):
        raise SpecError(f"says {section['metric']!r} but sweep.metric says {metric!r}: give one", source=source,
                        field=f"{where}.metric")
    found_mode = section.get("mode", mode)
    if found_mode is None:
        found_mode = "min" if lower_is_better(found_metric) else "max"
    if found_mode not in ("max", "min"):
        raise SpecError(f"unknown mode {found_mode!r}", source=source, field=f"{where}.mode", allowed=("max", "min"))
    search_seed = section.get("seed", seed)
    if search_seed is not None and (isinstance(search_seed, bool) or not isinstance(search_seed, int)):
        raise SpecError(f"must be an integer, got {search_seed!r}", source=source, field=f"{where}.seed")
    startup = section.get("startup_trials")
    if startup is not None and (isinstance(startup, bool) or not isinstance(startup, int) or startup < 0):
        raise SpecError(f"must be a number of trials, 0 or more, got {startup!r}", source=source,
                        field=f"{where}.startup_trials")
    pruner, options = _parse_pruner(section.get("pruner", "median"), source, f"{where}.pruner")
    return SearchSettings(sampler, trials, float(timeout) if timeout is not None else None, params, found_metric,
                          found_mode, search_seed, pruner, options, startup)


def _parse_pruner(value: Any, source: str, where: str) -> tuple[str, dict[str, Any]]:
    if value is None or value is False:
        return "none", {}
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        raise SpecError(f"must be a pruner name or a mapping with 'type', got {value!r}", source=source, field=where,
                        allowed=PRUNERS)
    kind = value.get("type", "median")
    if kind not in PRUNERS:
        raise SpecError(f"unknown pruner {kind!r}", source=source, field=f"{where}.type", allowed=PRUNERS, got=kind)
    allowed = PRUNER_OPTIONS[kind]
    options: dict[str, Any] = {}
    for key, option in value.items():
        if key == "type":
            continue
        if key not in allowed:
            raise SpecError(f"not an option of the {kind} pruner", source=source, field=f"{where}.{key}",
                            allowed=allowed or "no options", got=key)
        if key == "percentile":
            if isinstance(option, bool) or not isinstance(option, (int, float)) or not 0 < option < 100:
                raise SpecError(f"must be a number between 0 and 100 (the share of trials kept at each step, in "
                                f"percent), got {option!r}", source=source, field=f"{where}.{key}")
            options[key] = float(option)
            continue
        if key == "max_resource" and option == "auto":
            options[key] = option
            continue
        if key == "min_resource" and option == "auto" and kind == "successive_halving":
            options[key] = option
            continue
        least = 2 if key == "reduction_factor" else 1 if key in ("min_resource", "max_resource", "interval_steps",
                                                                 "min_trials") else 0
        if isinstance(option, bool) or not isinstance(option, int) or option < least:
            extra = " or 'auto'" if key in ("max_resource", "min_resource") else ""
            raise SpecError(f"must be an integer, {least} or more{extra}, got {option!r}", source=source,
                            field=f"{where}.{key}")
        options[key] = option
    if kind == "percentile" and "percentile" not in options:
        raise SpecError("needs 'percentile' (the share of trials kept at each step, e.g. 25; 50 is the median "
                        "pruner)", source=source, field=f"{where}.percentile")
    return kind, options


def grid_values(dist: Mapping[str, Any]) -> list[Any]:
    """The values a distribution with a finite set takes (a choice, or numbers with a step)."""
    if "choice" in dist:
        return list(dist["choice"])
    kind = next(k for k in dist if k != "step")
    low, high = dist[kind]
    step = dist["step"]
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [low + i * step if kind == "int" else round(low + i * step, 12) for i in range(count)]


def _parse_random(section: Any, source: str) -> tuple[int, dict[str, dict[str, Any]]]:
    if section is None:
        return 0, {}
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping with count and params", source=source, field="sweep.random")
    unknown = [k for k in section if k not in ("count", "params")]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"sweep.random.{unknown[0]}", allowed=("count", "params"),
                        got=unknown[0])
    count = section.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SpecError(f"must be a positive integer, got {count!r}", source=source, field="sweep.random.count")
    return count, _parse_params(section.get("params"), source, "sweep.random.params", steps=False)


def _check_steps(bounds: list[float], step: float, source: str, where: str) -> None:
    """[low, high] must be a whole number of steps: Optuna would quietly move `high` (to `low` itself
    when the step is wider than the range, so every trial would take one value). Decimal arithmetic on
    the numbers as written, as Optuna's own check does (0.1 divides [0, 1])."""
    low, high = bounds
    if high > low and step > high - low:
        raise SpecError(f"{step!r} is wider than the range [{low!r}, {high!r}]: every trial would take {low!r}",
                        source=source, field=where)
    span, d_step = decimal.Decimal(str(high)) - decimal.Decimal(str(low)), decimal.Decimal(str(step))
    if span % d_step != 0:
        fitted = (span // d_step) * d_step + decimal.Decimal(str(low))
        fitted_text = str(int(fitted)) if isinstance(high, int) and isinstance(step, int) else repr(float(fitted))
        raise SpecError(f"{step!r} does not divide [{low!r}, {high!r}] into whole steps: every value would be "
                        f"low + k * step up to {fitted_text}, so give that as high, or another step",
                        source=source, field=where)


def _parse_params(params: Any, source: str, field_name: str, *, steps: bool) -> dict[str, dict[str, Any]]:
    """Dotted keys to distributions: {choice: [..]}, {uniform: [lo, hi]}, {log_uniform: [lo, hi]},
    {int: [lo, hi]}; with `steps` (a search) `step: N` too, on uniform and int."""
    if not isinstance(params, Mapping) or not params:
        raise SpecError("must map dotted keys to distributions", source=source, field=field_name,
                        allowed=[f"{{{d}: ...}}" for d in DISTRIBUTIONS])
    parsed = {}
    for key, dist in params.items():
        where = f"{field_name}.{key}"
        _check_key(key, source, where)
        step = dist.get("step") if steps and isinstance(dist, Mapping) else None
        kinds = [k for k in dist if k != "step"] if isinstance(dist, Mapping) and steps else \
            list(dist) if isinstance(dist, Mapping) else []
        if not isinstance(dist, Mapping) or len(kinds) != 1 or kinds[0] not in DISTRIBUTIONS:
            with_step = ", optionally with step: N" if steps else ""
            raise SpecError(f"must be one of {{choice: [..]}}, {{uniform: [lo, hi]}}, {{log_uniform: [lo, hi]}}, "
                            f"{{int: [lo, hi]}}{with_step}; got {dist!r}", source=source, field=where)
        kind, args = kinds[0], dist[kinds[0]]
        if kind == "choice":
            if not isinstance(args, list) or not args:
                raise SpecError("choice needs a non-empty list", source=source, field=where)
        else:
            numeric = isinstance(args, list) and len(args) == 2 and all(
                isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
            if not numeric or args[0] > args[1]:
                raise SpecError(f"{kind} needs [low, high] with low <= high, got {args!r}", source=source, field=where)
            if kind == "int" and not all(isinstance(a, int) for a in args):
                raise SpecError(f"int needs integer bounds, got {args!r}", source=source, field=where)
            if kind == "log_uniform" and args[0] <= 0:
                raise SpecError(f"log_uniform needs positive bounds, got {args!r}", source=source, field=where)
        if "step" in (dist if steps else {}):
            if kind not in ("uniform", "int"):
                raise SpecError(f"step goes with uniform or int, not {kind}", source=source, field=f"{where}.step")
            whole = kind != "int" or isinstance(step, int)
            if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or not whole:
                raise SpecError(f"must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}",
                                source=source, field=f"{where}.step")
            _check_steps(args, step, source, f"{where}.step")
            parsed[key] = {kind: args, "step": step}
            continue
        parsed[key] = {kind: args}
    return parsed


def parse_ray(section: Any, source: str, where: str) -> dict[str, Any]:
    """`sweep.ray` (or the `--ray-*` options gathered the same way), checked: non-negative numbers of
    CPUs and GPUs, custom resources by name, `runtime_env` a mapping (Ray checks its contents)."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping", source=source, field=where, allowed=RAY_FIELDS)
    unknown = [k for k in section if k not in RAY_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"{where}.{unknown[0]}", allowed=RAY_FIELDS,
                        got=unknown[0])
    out: dict[str, Any] = {}
    for key in ("num_cpus", "num_gpus"):
        value = section.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
            raise SpecError(f"must be a number, 0 or more, got {value!r}", source=source, field=f"{where}.{key}")
        out[key] = float(value)
    resources = section.get("resources")
    if resources is not None:
        if not isinstance(resources, Mapping):
            raise SpecError("must map resource names to amounts", source=source, field=f"{where}.resources")
        for name, amount in resources.items():
            if not isinstance(name, str) or not name or isinstance(amount, bool) \
                    or not isinstance(amount, (int, float)) or amount <= 0:
                raise SpecError(f"must map resource names to positive amounts, got {name!r}: {amount!r}",
                                source=source, field=f"{where}.resources")
        out["resources"] = {str(k): float(v) for k, v in resources.items()}
    runtime_env = section.get("runtime_env")
    if runtime_env is not None:
        if not isinstance(runtime_env, Mapping):
            raise SpecError("must be a mapping (Ray's runtime_env: pip, py_modules, working_dir, env_vars, ...)",
                            source=source, field=f"{where}.runtime_env")
        out["runtime_env"] = dict(runtime_env)
    return out


def _check_key(key: Any, source: str, where: str) -> None:
    if not isinstance(key, str):
        raise SpecError(f"keys must be dotted names, got {key!r}", source=source, field=where)
    set_dotted({}, key, None, origin=f"{source}: {where}")  # same rules as --set


def expand(plan: SweepPlan) -> list[PlannedRun]:
    """Grid points x random draws, in file order; the same sweep seed always gives the same runs."""
    rng = random.Random(plan.seed)
    keys = list(plan.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(plan.grid[k] for k in keys))] or [{}]
    runs = []
    for point in points:
        for _ in range(plan.random_count or 1):
            overrides = dict(point)
            for key, dist in plan.random_params.items():
                overrides[key] = _draw(rng, dist)
            runs.append(_resolve(plan, len(runs), overrides))
    return runs


def _draw(rng: random.Random, dist: dict[str, Any]) -> Any:
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return copy.deepcopy(rng.choice(args))
    if kind == "int":
        return rng.randint(args[0], args[1])
    if kind == "uniform":
        return rng.uniform(args[0], args[1])
    return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))


def resolve(plan: SweepPlan, index: int, overrides: dict[str, Any]) -> PlannedRun:
    """The run `index` of `plan` with `overrides` applied to its base spec (a search's trial, say)."""
    return _resolve(plan, index, overrides)


def _resolve(plan: SweepPlan, index: int, overrides: dict[str, Any]) -> PlannedRun:
    data = copy.deepcopy(plan.base)
    for key, value in overrides.items():
        set_dotted(data, key, value, origin=plan.source)
    data["name"] = f"{data.get('name') or plan.name}-{index:03d}"
    return PlannedRun(index, overrides, spec_from_mapping(data, source=f"{plan.source} (run {index})"))
