"""Plugins that end their own process at chosen moments, for the data-loss and status tests
(tests/test_adversarial_data.py): what a kill, a signal, `os._exit` or a full disk does there."""

import json
import os
import signal
import threading
import time

from core import Plugin, PluginInfo, RunResult


def _log_steps(context, steps):
    for step in range(steps):
        context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
    context.tracking.flush()


class DieFinishing(Plugin):
    """Logs `steps` metrics and returns; a thread SIGKILLs the process as soon as the run's summary
    says FINISHED, i.e. while core writes the final summary and report."""

    info = PluginInfo(key="ext_die_finishing", version="1.0", description="Killed while its record is written")

    def run(self, spec, *, context):
        _log_steps(context, int(spec.data_spec.get("steps", 5)))
        summary = context.artifact_dir / "summary" / "run_summary.json"

        def kill_when_finished():
            while True:
                try:
                    if json.loads(summary.read_text()).get("status") == "FINISHED":
                        os.kill(os.getpid(), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                time.sleep(0.0005)

        threading.Thread(target=kill_when_finished, daemon=True).start()
        return RunResult(outputs={"done": True})


class Exit(Plugin):
    """Logs `steps` metrics, then ends its process without returning: `os._exit(code)`, or
    `how: sigkill` (what the kernel's OOM killer does)."""

    info = PluginInfo(key="ext_exit", version="1.0", description="Ends its own process mid-run")

    def run(self, spec, *, context):
        _log_steps(context, int(spec.data_spec.get("steps", 3)))
        if spec.data_spec.get("how") == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(int(spec.data_spec.get("code", 0)))


class _SignalOnInfo:
    """`info` for `SignalSelf`: reading it from an instance may send the process a signal."""

    def __init__(self, info):
        self.info = info

    def __get__(self, plugin, owner):
        if plugin is not None:
            plugin._info_read()
        return self.info


class SignalSelf(Plugin):
    """Sends its own process `data_spec.signal` (SIGINT/SIGTERM) at a moment core cannot defer to
    the plugin: `when: setup` the first time core reads its `info` after the run folder exists
    (before the plugin runs), `when: finishing` the first time after `run` returned, `when:
    recorded` the second time (as core writes the final summary). Then sleeps `seconds` in `run`
    (a signal that is swallowed lets it run to the end)."""

    info = _SignalOnInfo(PluginInfo(key="ext_signal_self", version="1.0", description="Signals itself"))

    def __init__(self):
        self._phase, self._when = "new", None

    def validate(self, spec):
        self._when = spec.data_spec.get("when", "setup")
        self._signal = getattr(signal, spec.data_spec.get("signal", "SIGTERM"))
        self._phase = "validated"  # the next read of `info` is the runner's, after the folder exists

    def _info_read(self):
        if self._phase == "returned" and self._when == "recorded":
            self._phase = "read once"
        elif (self._phase, self._when) in (("validated", "setup"), ("returned", "finishing"), ("read once", "recorded")):
            self._phase = "signalled"
            os.kill(os.getpid(), self._signal)

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 0.5, step=0)
        time.sleep(float(spec.data_spec.get("seconds", 1)))
        if self._phase == "validated":
            self._phase = "returned"
        return RunResult(outputs={"slept": True})


class FillJournal(Plugin):
    """Logs metrics until the disk is full (the journal's append fails with ENOSPC), and lets that
    error end the run."""

    info = PluginInfo(key="ext_fill_journal", version="1.0", description="Logs until the disk is full")

    def run(self, spec, *, context):
        step = 0
        while True:
            context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
            step += 1


class SlowSteps(Plugin):
    """Logs `steps` metric points, `pause` seconds apart, then a param and an artifact: a run that
    lasts long enough to be killed anywhere in it (the concurrency property test)."""

    info = PluginInfo(key="ext_slow_steps", version="1.0", description="Logs step metrics, slowly")

    def run(self, spec, *, context):
        steps, pause = int(spec.data_spec.get("steps", 100)), float(spec.data_spec.get("pause", 0.002))
        for step in range(steps):
            context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
            time.sleep(pause)
        context.tracking.log_params({"data.steps": steps})
        path = context.artifact_dir / "metrics" / "final.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"steps": steps}))
        context.tracking.log_artifact(path, artifact_path="metrics")
        return RunResult(outputs={"steps": steps})
