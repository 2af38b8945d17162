"""The HTML report in a real headless browser: it renders its charts and plots with no console
errors, fits a desktop (1280 px) and a phone (390 px) without sideways scrolling, and screenshots
at both widths are kept in test-artifacts/ for people to look at (one per plugin family too)."""

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_runs import REGISTRY

from core import Plugin, PluginInfo, RunContext, RunResult, RunSpec
from core._registry import Registry
from core._report import write_report
from core._runner import run
from core._tracking.fake import FakeTracking

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
KEEP = Path(os.environ.get("CORE_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
# A 1x1 PNG: what a plugin's plots/ folder would hold, to check plots are embedded and load.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium on this machine (.ci/run installs Debian's "
                                                        "chromium package where it can: apt-get install chromium)")


def _browser(*args, timeout=90):
    cmd = [BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--enable-logging=stderr", "--v=0", "--no-first-run", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_report_renders_charts_without_console_errors(tmp_path):
    outcome = run(RunSpec(plugin="curve", data_spec={"rate": 0.5}, name="browser-check"), artifact_root=tmp_path,
                  registry=REGISTRY, backend=FakeTracking())
    (outcome.run_dir / "plots").mkdir(exist_ok=True)
    (outcome.run_dir / "plots" / "pixel.png").write_bytes(PIXEL)
    url = write_report(outcome.run_dir).as_uri()
    dom = _browser("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r"<svg[^>]*class=\"chart\"", dom.stdout)) >= 2  # train_loss and val_accuracy histories
    assert "<polyline" in dom.stdout and 'src="data:image/png;base64,' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert console == [], console

    _check_widths(outcome.run_dir, "report")


WIDTHS = (1280, 390)  # a laptop, a phone
# Measures the laid-out page: the report itself has no script; a copy with this one says whether
# anything is wider than the window (a table, a chart, a plot, a long traceback line).
MEASURE = ("<script>document.body.setAttribute('data-overflow', String(document.documentElement.scrollWidth > "
           "window.innerWidth + 1))</script></body>")


def _check_widths(run_dir: Path, name: str) -> None:
    """At each width: nothing wider than the window, and a screenshot kept as `name-<width>.png`."""
    report = run_dir / "reports" / "report.html"
    measured = report.with_name("measured.html")
    measured.write_text(report.read_text().replace("</body>", MEASURE))
    KEEP.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        dom = _browser(f"--window-size={width},900", "--dump-dom", measured.as_uri())
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert 'data-overflow="false"' in dom.stdout, f"{name} is wider than a {width} px window"
        shot = KEEP / f"{name}-{width}.png"
        shot.unlink(missing_ok=True)
        proc = _browser(f"--window-size={width},2400", f"--screenshot={shot}", report.as_uri())
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    measured.unlink()


class LongError(Plugin):
    info = PluginInfo(key="long_error")

    def run(self, spec: RunSpec, *, context: RunContext) -> RunResult:
        context.tracking.log_metric("train_loss", 0.5, step=1)
        raise ValueError("no column named " + "x" * 400)


def test_a_failed_runs_long_traceback_wraps_on_a_phone(tmp_path):
    outcome = run(RunSpec(plugin="long_error"), artifact_root=tmp_path,
                  registry=Registry({"long_error": LongError}), backend=FakeTracking())
    assert outcome.status.value == "FAILED"
    _check_widths(outcome.run_dir, "report-failed")


FAMILIES = {
    "sklearn_classifier": ("sklearn", {"model": {"type": "random_forest", "n_estimators": 20}}),
    "sklearn_regressor": ("sklearn", {}),
    "torch_mlp": ("torch", {"data": {"source": "synthetic", "n_samples": 300, "n_features": 6, "n_informative": 4,
                                     "n_classes": 3},
                            "model": {"hidden": [16]}, "train": {"epochs": 5, "batch_size": 32, "lr": 0.01}}),
    "text_classifier": ("transformers", {
        "data": {"source": "synthetic", "n_samples": 120, "n_classes": 2},
        "model": {"layers": 1, "hidden": 32, "heads": 2, "vocab_size": 200, "max_length": 24, "dropout": 0.0},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.002}}),
}


@pytest.mark.slow
@pytest.mark.parametrize("plugin", list(FAMILIES))
def test_each_familys_report_fits_a_desktop_and_a_phone(tmp_path, plugin):
    module, data_spec = FAMILIES[plugin]
    pytest.importorskip(module, reason=f"{plugin} needs its extra")
    outcome = run(RunSpec(plugin=plugin, data_spec=data_spec, seed=1), artifact_root=tmp_path, registry=Registry(),
                  backend=FakeTracking())
    assert outcome.status.value == "FINISHED", outcome.error
    _check_widths(outcome.run_dir, f"report-{plugin}")
