"""Benchmark: an epoch-heavy torch_mlp spec through `core run` vs the same training loop written
plainly (PyTorch + MLflow), both as fresh processes, same machine, same run.

The plain script does the work a careful user writes by hand: same data, split and
standardisation, same network, optimizer, batches and epochs; per-epoch validation
loss, accuracy and macro F1 logged to an MLflow SQLite store with `log_batch`;
a loss-curve plot and a confusion matrix; the final model saved with `torch.save`
and logged. `core run` additionally writes `last.pt` every epoch and `best.pt` on
improvement, the journal, the history and the summary: the ratio is the price of that.

    python benchmarks/torch_vs_plain.py [--rows 20000] [--epochs 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import timed  # benchmarks/ is the script's folder, first on sys.path

PLAIN = r'''
import os, sys, time
import numpy as np, torch
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from torch import nn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from sklearn import metrics as skm
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

rows, epochs, out, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], 0
os.makedirs(out, exist_ok=True)
torch.manual_seed(seed)
X, y = make_classification(n_samples=rows, n_features=20, n_informative=10, n_classes=3, random_state=seed)
Xr, Xte, yr, yte = train_test_split(X, y, test_size=0.15, random_state=seed, stratify=y)
Xtr, Xva, ytr, yva = train_test_split(Xr, yr, test_size=0.15 / 0.85, random_state=seed, stratify=yr)
mean, std = Xtr.mean(0), Xtr.std(0)
t = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)
Xtr, Xva, Xte = t(Xtr), t(Xva), t(Xte)
ytr, yva, yte = (torch.tensor(v, dtype=torch.long) for v in (ytr, yva, yte))
model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 3))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
gen = torch.Generator().manual_seed(seed)
client = MlflowClient(f"sqlite:///{out}/mlflow.db")
exp = client.create_experiment("plain", artifact_location=f"file://{out}/art")
run_id = client.create_run(exp).info.run_id
history = {"train_loss": [], "val_loss": []}
client.log_batch(run_id, params=[Param("model.hidden", "[128, 64]"), Param("train.epochs", str(epochs))])
for epoch in range(1, epochs + 1):
    model.train()
    order, total = torch.randperm(len(Xtr), generator=gen), 0.0
    for i in range(0, len(Xtr), 256):
        idx = order[i:i + 256]
        opt.zero_grad()
        loss = loss_fn(model(Xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    model.eval()
    with torch.no_grad():
        out_va = model(Xva)
    pred = out_va.argmax(1).numpy()
    ts = int(time.time() * 1000)
    history["train_loss"].append(total / len(Xtr))
    history["val_loss"].append(loss_fn(out_va, yva).item())
    client.log_batch(run_id, metrics=[
        Metric("train_loss", history["train_loss"][-1], ts, epoch), Metric("val_loss", history["val_loss"][-1], ts, epoch),
        Metric("val_accuracy", skm.accuracy_score(yva, pred), ts, epoch),
        Metric("val_f1_macro", skm.f1_score(yva, pred, average="macro"), ts, epoch)])
with torch.no_grad():
    pred = model(Xte).argmax(1).numpy()
client.log_batch(run_id, metrics=[Metric("test_accuracy", skm.accuracy_score(yte, pred), int(time.time() * 1000), 0)])
fig, ax = plt.subplots()
for name, values in history.items():
    ax.plot(range(1, epochs + 1), values, label=name)
ax.legend(); fig.savefig(f"{out}/loss_curves.png"); plt.close(fig)
fig, ax = plt.subplots(); skm.ConfusionMatrixDisplay.from_predictions(yte, pred, ax=ax)
fig.savefig(f"{out}/confusion_matrix.png"); plt.close(fig)
torch.save(model.state_dict(), f"{out}/model.pt")
for f in ("model.pt", "loss_curves.png", "confusion_matrix.png"):
    client.log_artifact(run_id, f"{out}/{f}")
client.set_terminated(run_id)
'''

SPEC = """plugin: torch_mlp
seed: 0
data_spec:
  data: {{source: synthetic, n_samples: {rows}, n_features: 20, n_informative: 10, n_redundant: 2, n_classes: 3}}
  model: {{hidden: [128, 64]}}
  train: {{epochs: {epochs}, batch_size: 256, optimizer: adam, lr: 0.001, device: cpu}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING", CORE_PROGRESS="0")
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = tmp / "spec.yaml"
        spec.write_text(SPEC.format(rows=args.rows, epochs=args.epochs))
        (tmp / "plain.py").write_text(PLAIN)
        for i in range(args.repeat):  # interleaved, so drift in machine load hits both
            ours.append(timed([sys.executable, "-m", "core", "run", str(spec),
                               "--artifact-root", str(tmp / f"mlcore{i}")], env))
            plain.append(timed([sys.executable, str(tmp / "plain.py"), str(args.rows), str(args.epochs),
                                str(tmp / f"plain{i}")], env))
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"rows: {args.rows}, epochs: {args.epochs}, repeats: {args.repeat} (median wall time, fresh processes)")
    print(f"core run torch_mlp:            {o:7.2f} s   {[round(t, 2) for t in ours]}")
    print(f"plain PyTorch + MLflow script: {p:7.2f} s   {[round(t, 2) for t in plain]}")
    print(f"ratio core/plain:              {o / p:7.2f}")


if __name__ == "__main__":
    main()
