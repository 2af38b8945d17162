"""The HTML report in a real headless browser: it renders its charts and plots with no console
errors, and a screenshot is kept in test-artifacts/ for people to look at."""

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_runs import REGISTRY

from core import RunSpec
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
    from core._report import write_report

    url = write_report(outcome.run_dir).as_uri()
    dom = _browser("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r"<svg[^>]*class=\"chart\"", dom.stdout)) >= 2  # train_loss and val_accuracy histories
    assert "<polyline" in dom.stdout and 'src="data:image/png;base64,' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Failed to load" in line]
    assert console == [], console

    KEEP.mkdir(parents=True, exist_ok=True)
    shot = KEEP / "report.png"
    shot.unlink(missing_ok=True)
    proc = _browser("--window-size=1200,2400", f"--screenshot={shot}", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
