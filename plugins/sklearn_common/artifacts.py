"""Where the sklearn family writes its files, in the standard run-folder layout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugins.common.files import write_json  # noqa: F401 - the family writes JSON through artifacts

MODEL = Path("models") / "model.joblib"
MODEL_META = Path("models") / "model_meta.json"
METRICS = Path("metrics") / "metrics.json"
DATA_SUMMARY = Path("data") / "data_summary.json"
PREDICTIONS = Path("data") / "predictions.csv"
REPORT = Path("reports") / "report.md"
PLOTS = Path("plots")

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def save_model(run_dir: Path, pipeline: Pipeline) -> Path:
    import joblib

    path = run_dir / MODEL
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, path)
    return path


def write_report(run_dir: Path, *, title: str, metrics: dict[str, float], plots: list[Path],
                 notes: dict[str, Any]) -> Path:
    lines = [f"# {title}", ""]
    for key, value in notes.items():
        lines.append(f"- **{key}**: {value}")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.6g} |" for k, v in sorted(metrics.items())]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}](../plots/{p.name})" for p in plots]
    path = run_dir / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
