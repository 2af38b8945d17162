"""A third-party plugin package written only against `core`'s public contract."""

import os
import time

from core import Plugin, PluginInfo, RunResult


class Echo(Plugin):
    info = PluginInfo(key="echo", description="Logs a few things")

    def run(self, spec, *, context):
        context.tracking.log_params({"data.n": 3, "model.type": "none"})
        context.tracking.log_metric("train_loss", 0.5, step=1)
        path = context.artifact_dir / "metrics" / "m.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        context.tracking.log_artifact(path, artifact_path="metrics")
        context.logger.info("done")
        return RunResult(outputs={"answer": 42})


class Fail(Plugin):
    info = PluginInfo(key="ext_fail", description="Logs two metrics, then raises")

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 1.0, step=0)
        context.tracking.log_metric("train_loss", 0.9, step=1)
        raise RuntimeError("boom from ext_fail")


class Sleep(Plugin):
    """Logs a metric per step, then waits `seconds` (or until the file `until` exists); writes `ready`
    so a test knows when to signal it."""

    info = PluginInfo(key="ext_sleep", description="Logs, then sleeps until interrupted")

    def run(self, spec, *, context):
        for step in range(3):
            context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
        context.tracking.flush()
        (context.artifact_dir / "ready").write_text(str(os.getpid()))
        seconds, until = float(spec.data_spec.get("seconds", 60)), spec.data_spec.get("until")
        if until is None:
            time.sleep(seconds)
        deadline = time.time() + seconds
        while until is not None and time.time() < deadline and not os.path.exists(until):
            time.sleep(0.1)
        return RunResult(outputs={"slept": True})


class Steps(Plugin):
    """Logs `steps` metric points; after `pause_after` of them, writes `paused` and waits
    for a `resume` file, so a test can change the world (stop a server) mid-run."""

    info = PluginInfo(key="ext_steps", description="Logs step metrics, can pause mid-run")

    def run(self, spec, *, context):
        cfg = spec.data_spec
        steps, pause_after = int(cfg.get("steps", 10)), cfg.get("pause_after")
        for step in range(steps):
            if pause_after is not None and step == int(pause_after):
                context.tracking.flush()
                (context.artifact_dir / "paused").write_text("")
                deadline = time.time() + 120
                while not (context.artifact_dir / "resume").exists() and time.time() < deadline:
                    time.sleep(0.05)
            context.tracking.log_metric("train_loss", 1.0 / (step + 1), step=step)
        context.tracking.log_params({"data.steps": steps})
        path = context.artifact_dir / "metrics" / "final.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"steps": %d}' % steps)
        context.tracking.log_artifact(path, artifact_path="metrics")
        return RunResult(outputs={"steps": steps})


class Random(Plugin):
    """Not deterministic under any seed: its metric comes from the OS's entropy pool."""

    info = PluginInfo(key="ext_random", description="Logs a metric no seed can fix")

    def run(self, spec, *, context):
        value = int.from_bytes(os.urandom(4), "big") / 2**32
        context.tracking.log_metrics({"test_value": value, "test_constant": 1.0})
        return RunResult(outputs={"value": value})


class DiskFull(Plugin):
    """Logs a metric, then writes its model to a file the disk refuses (a link to /dev/full: ENOSPC)."""

    info = PluginInfo(key="ext_diskfull", description="Hits a full disk while writing an artifact")

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 0.5, step=1)
        model = context.artifact_dir / "models" / "model.bin"
        model.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(spec.data_spec.get("device", "/dev/full"), model)
        with open(model, "wb") as fh:
            fh.write(b"\0" * 1_000_000)
            fh.flush()
        return RunResult()


class BadResult(Plugin):
    info = PluginInfo(key="ext_badresult", description="Returns a dict, not a RunResult")

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 0.5, step=1)
        return {"accuracy": 1.0}


class Escape(Plugin):
    """Tries to make core copy a file from outside its run folder: a path it was given, or a link."""

    info = PluginInfo(key="ext_escape", description="Logs a file from outside its run folder")

    def run(self, spec, *, context):
        context.tracking.log_metric("train_loss", 0.5, step=1)
        outside = spec.data_spec["outside"]
        if spec.data_spec.get("via") == "link":
            link = context.artifact_dir / "data" / "innocent.txt"
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(outside, link)
            context.tracking.log_artifact(link, artifact_path="data")
        else:
            context.tracking.log_artifact(outside, artifact_path="data")
        return RunResult()


class _StrRaises:
    def __str__(self):
        raise RuntimeError("this object cannot be printed")

    __repr__ = __str__


class Hostile(Plugin):
    """Does one hostile thing a plugin could do (`data_spec.do`), for the adversarial tests:
    `outputs` returns values JSON cannot hold; `plots` leaves a FIFO and links to /dev/zero and to a
    file outside (`data_spec.outside`) in plots/; `log_dir` logs a folder holding a link to that file;
    `log_fifo` logs a FIFO; `core_tags` sets core's own tags; `secrets` logs credentials."""

    info = PluginInfo(key="ext_hostile", description="Does one hostile thing (for core's own tests)")

    def run(self, spec, *, context):
        do, cfg = spec.data_spec.get("do"), spec.data_spec
        tracking, folder = context.tracking, context.artifact_dir
        tracking.log_metric("train_loss", 0.5, step=1)
        if do == "outputs":
            loop = [1, 2]
            loop.append(loop)
            tracking.log_metrics({"val_nan": float("nan"), "val_inf": float("inf"), "val_ninf": float("-inf")})
            return RunResult(outputs={"loop": loop, "unprintable": _StrRaises(), "nan": float("nan"),
                                      "inf": float("inf"), "nested": {"ninf": [float("-inf")]}, "ok": 1})
        if do == "big":
            return RunResult(outputs={"blob": "x" * 5_000_000, "many": list(range(1_000_000))})
        if do == "plots":
            plots = folder / "plots"
            plots.mkdir(parents=True, exist_ok=True)
            os.mkfifo(plots / "fifo.png")
            os.symlink("/dev/zero", plots / "zero.png")
            os.symlink(cfg["outside"], plots / "outside.png")
            (plots / "real.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
            return RunResult(outputs={"plots": 4})
        if do == "log_dir":
            data = folder / "data"
            data.mkdir(parents=True, exist_ok=True)
            (data / "real.txt").write_text("mine")
            os.symlink(cfg["outside"], data / "shadow.txt")
            tracking.log_artifacts(data, artifact_path="data")
            return RunResult()
        if do == "log_dir_ok":
            data = folder / "data"
            data.mkdir(parents=True, exist_ok=True)
            (data / "real.txt").write_text("mine")
            tracking.log_artifacts(data, artifact_path="data")
            return RunResult()
        if do == "log_fifo":
            os.mkfifo(folder / "pipe.bin")
            tracking.log_artifact(folder / "pipe.bin", artifact_path="data")
            return RunResult()
        if do == "core_tags":
            tracking.set_tags({cfg.get("tag", "mlcore.run_id"): "spoofed"})
            return RunResult()
        if do == "secrets":
            tracking.log_params(cfg.get("params", {}))
            tracking.set_tags(cfg.get("tags", {}))
            return RunResult(outputs=cfg.get("outputs", {}))
        raise ValueError(f"unknown do: {do!r}")
