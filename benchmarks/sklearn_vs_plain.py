"""Benchmark: the sklearn classifier through `core run` vs the same work as a plain
scikit-learn + MLflow script, both as fresh processes, same machine, same run.

The plain script does what the plugin does: same data, split, model, metrics on
three splits, the same plots, the model saved with joblib, params, metrics and
artifacts logged to an MLflow SQLite store.

    python benchmarks/sklearn_vs_plain.py [--rows 100000] [--repeat 3]
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
import json, os, sys, time
import joblib, numpy as np
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from sklearn import metrics as skm
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

rows, seed, out = int(sys.argv[1]), 0, sys.argv[2]
os.makedirs(out, exist_ok=True)
X, y = make_classification(n_samples=rows, n_features=20, n_informative=5, n_redundant=2, random_state=seed)
Xr, Xte, yr, yte = train_test_split(X, y, test_size=0.15, random_state=seed, stratify=y)
Xtr, Xva, ytr, yva = train_test_split(Xr, yr, test_size=0.15 / 0.85, random_state=seed, stratify=yr)
model = HistGradientBoostingClassifier(random_state=seed).fit(Xtr, ytr)
m = {}
for name, Xs, ys in (("train", Xtr, ytr), ("val", Xva, yva), ("test", Xte, yte)):
    p, pr = model.predict(Xs), model.predict_proba(Xs)
    m.update({f"{name}_accuracy": skm.accuracy_score(ys, p), f"{name}_f1_macro": skm.f1_score(ys, p, average="macro"),
              f"{name}_precision_macro": skm.precision_score(ys, p, average="macro"),
              f"{name}_recall_macro": skm.recall_score(ys, p, average="macro"),
              f"{name}_log_loss": skm.log_loss(ys, pr), f"{name}_roc_auc": skm.roc_auc_score(ys, pr[:, 1])})
fig, ax = plt.subplots(); skm.ConfusionMatrixDisplay.from_predictions(yte, model.predict(Xte), ax=ax)
fig.savefig(f"{out}/cm.png"); plt.close(fig)
fig, ax = plt.subplots(); fpr, tpr, _ = skm.roc_curve(yte, model.predict_proba(Xte)[:, 1]); ax.plot(fpr, tpr)
fig.savefig(f"{out}/roc.png"); plt.close(fig)
joblib.dump(model, f"{out}/model.joblib")
json.dump(m, open(f"{out}/metrics.json", "w"))
client = MlflowClient(f"sqlite:///{out}/mlflow.db")
exp = client.create_experiment("plain", artifact_location=f"file://{out}/art")
run = client.create_run(exp)
ts = int(time.time() * 1000)
client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), ts, 0) for k, v in m.items()],
                 params=[Param("model.type", "hist_gradient_boosting"), Param("data.n_samples", str(rows))])
for f in ("cm.png", "roc.png", "model.joblib", "metrics.json"):
    client.log_artifact(run.info.run_id, f"{out}/{f}")
client.set_terminated(run.info.run_id)
'''

SPEC = """plugin: sklearn_classifier
seed: 0
data_spec:
  data: {{source: synthetic, n_samples: {rows}, n_features: 20}}
  model: {{type: hist_gradient_boosting}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_LOGGING_LEVEL="WARNING")
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = tmp / "spec.yaml"
        spec.write_text(SPEC.format(rows=args.rows))
        (tmp / "plain.py").write_text(PLAIN)
        for i in range(args.repeat):  # interleaved, so drift in machine load hits both
            ours.append(timed([sys.executable, "-m", "core", "run", str(spec),
                               "--artifact-root", str(tmp / f"mlcore{i}")], env))
            plain.append(timed([sys.executable, str(tmp / "plain.py"), str(args.rows), str(tmp / f"plain{i}")], env))
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"rows: {args.rows}, repeats: {args.repeat} (median wall time, fresh processes)")
    print(f"core run sklearn_classifier:   {o:7.2f} s   {[round(t, 2) for t in ours]}")
    print(f"plain sklearn + MLflow script: {p:7.2f} s   {[round(t, 2) for t in plain]}")
    print(f"ratio core/plain:              {o / p:7.2f}")


if __name__ == "__main__":
    main()
