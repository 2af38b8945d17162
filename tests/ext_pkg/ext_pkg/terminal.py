"""A plugin whose clean-up takes a while, for Ctrl-C on a real terminal (tests/test_supervise.py)."""

import time

from core import Plugin, PluginInfo, RunResult


class SlowCleanup(Plugin):
    """Logs, sleeps until interrupted, then spends a second cleaning up before it writes
    `models/cleanup.txt`: a second SIGINT during that second would cut the clean-up short."""

    info = PluginInfo(key="ext_slow_cleanup", description="Sleeps until interrupted, then cleans up slowly")

    def run(self, spec, *, context):
        # Logged inside the `try`: the test presses Ctrl-C once `train_loss` is in the journal, which can
        # be while `flush` still waits for tracking; the clean-up must cover that moment too.
        try:
            context.tracking.log_metric("train_loss", 0.5, step=1)
            context.tracking.flush()
            time.sleep(float(spec.data_spec.get("seconds", 60)))
        finally:
            time.sleep(1.0)
            path = context.artifact_dir / "models" / "cleanup.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("done")
        return RunResult()
