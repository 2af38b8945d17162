"""sklearn_regressor: parity with plain scikit-learn on synthetic and bundled data; examples run."""

from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="needs the sklearn extra: pip install 'mlcore[sklearn]'")

from core import RunSpec, load_spec, run
from core.testing import FakeTracking, Registry
from plugins.sklearn_regressor import SklearnRegressor

REGISTRY = Registry({"sklearn_regressor": SklearnRegressor})
EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))


def _plain_split(X, y, seed):
    from sklearn.model_selection import train_test_split

    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.15, random_state=seed)
    X_tr, _, y_tr, _ = train_test_split(X_rest, y_rest, test_size=0.15 / 0.85, random_state=seed)
    return X_tr, X_test, y_tr, y_test


def _final(tmp_path, data_spec, seed):
    fake = FakeTracking()
    outcome = run(RunSpec(plugin="sklearn_regressor", data_spec=data_spec, seed=seed), artifact_root=tmp_path,
                  registry=REGISTRY, backend=fake)
    assert outcome.status.value == "FINISHED", outcome.error
    return fake.only_run()


@pytest.mark.parametrize("source", ["synthetic", "builtin"])
def test_parity_with_plain_sklearn(tmp_path, source):
    """rmse, mae and r2 on the test split equal a hand-written script's to 1e-9."""
    import numpy as np
    from sklearn.datasets import load_diabetes, make_regression
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    seed = 2
    if source == "synthetic":
        data = {"source": "synthetic", "n_samples": 300, "n_features": 6, "noise": 2.0}
        X, y = make_regression(n_samples=300, n_features=6, n_informative=10, noise=2.0, random_state=seed)
    else:
        data = {"source": "builtin", "name": "diabetes"}
        X, y = load_diabetes(return_X_y=True)
    recorded = _final(tmp_path, {"data": data, "model": {"type": "random_forest", "n_estimators": 20}}, seed)
    X_tr, X_te, y_tr, y_te = _plain_split(X, y, seed)
    pred = RandomForestRegressor(n_estimators=20, random_state=seed).fit(X_tr, y_tr).predict(X_te)
    final = recorded.final_metrics()
    assert final["test_rmse"] == pytest.approx(float(np.sqrt(mean_squared_error(y_te, pred))), abs=1e-9)
    assert final["test_mae"] == pytest.approx(mean_absolute_error(y_te, pred), abs=1e-9)
    assert final["test_r2"] == pytest.approx(r2_score(y_te, pred), abs=1e-9)
    assert {"plots/predicted_vs_actual.png", "plots/residuals.png"} <= set(recorded.artifacts)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_spec_runs(tmp_path, example):
    """Each shipped example spec validates and finishes."""
    outcome = run(load_spec(example), artifact_root=tmp_path, registry=REGISTRY, backend=FakeTracking())
    assert outcome.status.value == "FINISHED", outcome.error
