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

Keys are the dotted keys of `core run --set`. Pure Python: no plugin is imported here.
"""

from __future__ import annotations

import copy
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

from core._errors import SpecError
from core._spec import apply_overrides, read_spec_file, set_dotted, spec_from_mapping
from core.contracts import RunSpec

SWEEP_FIELDS = ("name", "seed", "metric", "mode", "grid", "random", "ray")
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
    #: `sweep.ray`, checked: keyword arguments of `core._sweep.ray_executor.RayOptions`
    ray: dict[str, Any] = field(default_factory=dict)


def load_sweep(path: str | Path, *, overrides: list[str] = (), name: str | None = None) -> SweepPlan:
    """Read, validate and expand a sweep file. Errors name the file and the field."""
    source = str(path)
    data = read_spec_file(path)
    section = data.pop("sweep", None)
    if section is None:
        raise SpecError("a sweep file needs a 'sweep:' section (grid and/or random)", source=source, field="sweep")
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping", source=source, field="sweep")
    base = apply_overrides(data, overrides, source=source)
    spec_from_mapping(base, source=source)  # the base must be a valid spec on its own
    plan = _parse_section(section, source, base, default_name=name or Path(path).stem)
    plan.runs = expand(plan)
    return plan


def _parse_section(section: Mapping[str, Any], source: str, base: dict[str, Any], *, default_name: str) -> SweepPlan:
    unknown = [k for k in section if k not in SWEEP_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"sweep.{unknown[0]}", allowed=SWEEP_FIELDS)
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


def _parse_random(section: Any, source: str) -> tuple[int, dict[str, dict[str, Any]]]:
    if section is None:
        return 0, {}
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping with count and params", source=source, field="sweep.random")
    unknown = [k for k in section if k not in ("count", "params")]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"sweep.random.{unknown[0]}", allowed=("count", "params"))
    count = section.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SpecError(f"must be a positive integer, got {count!r}", source=source, field="sweep.random.count")
    params = section.get("params")
    if not isinstance(params, Mapping) or not params:
        raise SpecError("must map dotted keys to distributions", source=source, field="sweep.random.params",
                        allowed=[f"{{{d}: ...}}" for d in DISTRIBUTIONS])
    parsed = {}
    for key, dist in params.items():
        where = f"sweep.random.params.{key}"
        _check_key(key, source, where)
        if not isinstance(dist, Mapping) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise SpecError(f"must be one of {{choice: [..]}}, {{uniform: [lo, hi]}}, {{log_uniform: [lo, hi]}}, "
                            f"{{int: [lo, hi]}}; got {dist!r}", source=source, field=where)
        kind, args = next(iter(dist.items()))
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
        parsed[key] = {kind: args}
    return count, parsed


def parse_ray(section: Any, source: str, where: str) -> dict[str, Any]:
    """`sweep.ray` (or the `--ray-*` options gathered the same way), checked: non-negative numbers of
    CPUs and GPUs, custom resources by name, `runtime_env` a mapping (Ray checks its contents)."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise SpecError("must be a mapping", source=source, field=where, allowed=RAY_FIELDS)
    unknown = [k for k in section if k not in RAY_FIELDS]
    if unknown:
        raise SpecError("unknown field", source=source, field=f"{where}.{unknown[0]}", allowed=RAY_FIELDS)
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


def _resolve(plan: SweepPlan, index: int, overrides: dict[str, Any]) -> PlannedRun:
    data = copy.deepcopy(plan.base)
    for key, value in overrides.items():
        set_dotted(data, key, value, origin=plan.source)
    data["name"] = f"{data.get('name') or plan.name}-{index:03d}"
    return PlannedRun(index, overrides, spec_from_mapping(data, source=f"{plan.source} (run {index})"))
