"""The GPU check (issue 19): one short script, run as it is on a CUDA machine with the extras installed.

1. the torch and nlp test suites (the GPU-only tests run there, skipped elsewhere);
2. torch_mlp on ~200k synthetic rows for a few epochs through `core run`, at fp32, bf16 and with
   torch.compile, against a plain PyTorch loop on the same GPU (same data, network, batches,
   epochs): wall time of fresh processes, and training time per epoch; ratios core/plain;
3. two runs with the same seed: how close their final metrics are, and which cuDNN/determinism
   settings the plugin uses.

    python benchmarks/gpu_check.py [--rows 200000] [--epochs 3] [--skip-tests] [--workers N] [--device cuda]

Without a GPU it says so and exits 2, unless `--device cpu` (a dry run of the script itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r'''
import json, sys, time
import torch
from torch import nn
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

rows, epochs, device, seed = int(sys.argv[1]), int(sys.argv[2]), torch.device(sys.argv[3]), 0
torch.manual_seed(seed)
X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, n_redundant=2, n_classes=3,
                           random_state=seed)
Xtr, _, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
mean, std = Xtr.mean(0), Xtr.std(0)
Xtr = torch.tensor((Xtr - mean) / std, dtype=torch.float32, device=device)
ytr = torch.tensor(ytr, dtype=torch.long, device=device)
model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 3)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
gen = torch.Generator().manual_seed(seed)
epoch_s = []
for epoch in range(epochs):
    if device.type == "cuda": torch.cuda.synchronize()
    start = time.perf_counter()
    order = torch.randperm(len(Xtr), generator=gen).to(device)
    total = torch.zeros((), device=device)
    for i in range(0, len(Xtr), 1024):
        idx = order[i:i + 1024]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    total.item()
    epoch_s.append(time.perf_counter() - start)
print(json.dumps({"epoch_seconds": epoch_s}))
'''

SPEC = """plugin: torch_mlp
seed: 0
data_spec:
  data: {{source: synthetic, n_samples: {rows}, n_features: 20, n_informative: 10, n_redundant: 2, n_classes: 3}}
  split: {{train: 0.7, val: 0.15, test: 0.15}}
  model: {{hidden: [256, 128]}}
  train: {{epochs: {epochs}, batch_size: 1024, optimizer: adam, lr: 0.001, device: {device}, precision: {precision},
          compile: {compile}}}
  plots: false
  log_model: false
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="run the test suites on N pytest-xdist workers")
    args = parser.parse_args()
    import torch

    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", CORE_PROGRESS="0")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}", flush=True)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("no CUDA device here: nothing to check (the CPU suite is what CI runs)", file=sys.stderr)
            return 2
        print(f"device: {torch.cuda.get_device_name(0)}; bf16: {torch.cuda.is_bf16_supported()}; "
              f"cuDNN {torch.backends.cudnn.version()}", flush=True)
    failures = 0
    if not args.skip_tests:
        failures += _tests(env, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        failures += _timings(Path(tmp), args, env)
    print(f"\ngpu_check: {'all passed' if not failures else f'{failures} problem(s)'}")
    return 1 if failures else 0


def _tests(env: dict[str, str], workers: int) -> int:
    print("\n== torch and nlp test suites (GPU-only tests included where CUDA exists)", flush=True)
    start = time.perf_counter()
    parallel = ["-n", str(workers)] if workers > 0 else []
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rs", *parallel,
                           "plugins/torch_mlp", "plugins/text_classifier", "-m", "not slow"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    # the skipped tests' reasons (a GPU test skipped on a GPU machine is worth seeing), and on failure its story
    tail = proc.stdout.strip().splitlines()[-(60 if proc.returncode else 12):]
    print("\n".join(tail), f"\n({time.perf_counter() - start:.0f} s)", flush=True)
    return 0 if proc.returncode == 0 else 1


def _run(tmp: Path, name: str, args: argparse.Namespace, env: dict[str, str], *, precision: str = "fp32",
         compile: str = "false") -> dict:
    spec = tmp / f"{name}.yaml"
    spec.write_text(SPEC.format(rows=args.rows, epochs=args.epochs, device=args.device, precision=precision,
                                compile=compile))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "core", "run", str(spec), "--json", "--tracking-uri", "memory",
                           "--artifact-root", str(tmp / name)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"name": name, "error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall": wall}
    out = json.loads(proc.stdout)
    summary = json.loads((Path(out["run_dir"]) / "summary" / "run_summary.json").read_text())
    history = json.loads((Path(out["run_dir"]) / "metrics" / "history.json").read_text())
    epochs = history.get("train_epoch_seconds") or []
    return {"name": name, "wall": wall, "epoch_seconds": epochs, "metrics": summary["metrics"]}


def _timings(tmp: Path, args: argparse.Namespace, env: dict[str, str]) -> int:
    print(f"\n== torch_mlp on {args.rows} rows x {args.epochs} epochs, {args.device}", flush=True)
    (tmp / "plain.py").write_text(PLAIN)
    start = time.perf_counter()
    plain_proc = subprocess.run([sys.executable, str(tmp / "plain.py"), str(args.rows), str(args.epochs),
                                 args.device], env=env, capture_output=True, text=True)
    plain_wall = time.perf_counter() - start
    if plain_proc.returncode != 0:
        print(f"the plain loop failed: {plain_proc.stderr.strip()[-500:]}")
        return 1
    plain_epochs = json.loads(plain_proc.stdout.strip().splitlines()[-1])["epoch_seconds"]
    runs = [_run(tmp, "fp32", args, env), _run(tmp, "bf16", args, env, precision="bf16"),
            _run(tmp, "compile", args, env, compile="true"), _run(tmp, "fp32-again", args, env)]
    steady_plain = _steady(plain_epochs)
    print(f"{'run':<12}{'wall s':>9}{'epoch s':>10}{'ratio wall':>12}{'ratio epoch':>13}")
    print(f"{'plain loop':<12}{plain_wall:>9.1f}{steady_plain:>10.3f}{1:>12.2f}{1:>13.2f}")
    problems = 0
    for r in runs:
        if "error" in r:
            print(f"{r['name']:<12} failed: {r['error']}")
            problems += r["name"] != "bf16"  # bf16 is refused where the device has none: said, not a failure
            continue
        steady = _steady(r["epoch_seconds"])
        print(f"{r['name']:<12}{r['wall']:>9.1f}{steady:>10.3f}{r['wall'] / plain_wall:>12.2f}"
              f"{steady / steady_plain if steady_plain else float('nan'):>13.2f}")
    first, again = runs[0], runs[3]
    if "metrics" in first and "metrics" in again:
        keys = [k for k in first["metrics"] if not k.endswith(("_seconds", "_mem_mb"))]
        diff = max((abs(first["metrics"][k] - again["metrics"][k]) for k in keys), default=0.0)
        print(f"\nsame seed twice (fp32): max |difference| over {len(keys)} final metrics = {diff:.3g}"
              f" ({'identical' if diff == 0 else 'close' if diff < 1e-4 else 'NOT reproducible'})")
        print("settings: torch.manual_seed (all devices); on CUDA cudnn.deterministic=True, cudnn.benchmark=False; "
              "torch.use_deterministic_algorithms is not forced")
        problems += diff >= 1e-4
    return problems


def _steady(epochs: list[float]) -> float:
    """The median epoch time after the first (which pays for warm-up and, with compile, compiling)."""
    later = sorted(epochs[1:] or epochs)
    return later[len(later) // 2] if later else float("nan")


if __name__ == "__main__":
    sys.exit(main())
