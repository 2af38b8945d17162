"""Issue 19 on a CPU: train.precision (refused where the device cannot do it), train.compile,
checkpoints written on CUDA resumed on a CPU, and the GPU-only checks, skipped without a GPU."""

from pathlib import Path

import pytest

from core import RunSpec, SpecError
from core._runner import run
from core._tracking.fake import FakeTracking
from core.testing import Registry
from plugins.torch_mlp import TorchMlp

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'mlcore[torch]'")

REGISTRY = Registry({"torch_mlp": TorchMlp})
TINY = {"data": {"source": "synthetic", "n_samples": 200, "n_features": 6, "n_informative": 4, "n_classes": 3},
        "model": {"hidden": [16]}, "train": {"epochs": 2, "batch_size": 32, "lr": 0.01}}
GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs these)")


def _run(root: Path, train: dict, **data_spec):
    fake = FakeTracking()
    spec = {**TINY, **data_spec, "train": {**TINY["train"], **train}}
    outcome = run(RunSpec(plugin="torch_mlp", data_spec=spec, seed=3), artifact_root=root, registry=REGISTRY,
                  backend=fake)
    return outcome, fake


@pytest.mark.parametrize("train, words", [
    ({"device": "cpu", "precision": "fp16"}, "fp16 mixed precision needs a CUDA device"),
    ({"precision": "fp8"}, "unknown value 'fp8'"),
    ({"compile": "fastest"}, "must be true, false or a torch.compile mode"),
])
def test_a_precision_or_compile_the_device_cannot_do_is_bad_input_before_any_folder(tmp_path, train, words):
    with pytest.raises(SpecError, match=words):
        _run(tmp_path, train)
    assert not (tmp_path / "runs").exists()


def test_bf16_on_a_cpu_without_native_bfloat16_is_refused_and_runs_where_it_has_it(tmp_path, monkeypatch):
    from plugins.common.torch_train import accel

    monkeypatch.setattr(accel, "cpu_has_bf16", lambda: False)
    with pytest.raises(SpecError, match="no native bfloat16"):
        _run(tmp_path / "no", {"device": "cpu", "precision": "bf16"})
    monkeypatch.setattr(accel, "cpu_has_bf16", lambda: True)  # autocast to bf16 works on any CPU, only slowly
    outcome, fake = _run(tmp_path / "yes", {"device": "cpu", "precision": "bf16"})
    assert outcome.status.value == "FINISHED", outcome.error
    assert fake.only_run().params["train.precision"] == "bf16"


def test_epoch_time_is_logged_and_the_loss_is_read_once_per_epoch(tmp_path):
    outcome, fake = _run(tmp_path, {"device": "cpu"})
    recorded = fake.only_run()
    assert [m.step for m in recorded.metrics if m.key == "train_epoch_seconds"] == [1, 2]
    assert "train_gpu_peak_mem_mb" not in {m.key for m in recorded.metrics}  # CUDA only
    assert "train_compile_seconds" not in {m.key for m in recorded.metrics}  # compile is off by default


@pytest.mark.slow
def test_compile_on_a_cpu_trains_logs_its_cost_and_saves_the_plain_modules_weights(tmp_path):
    outcome, fake = _run(tmp_path, {"device": "cpu", "compile": True})
    assert outcome.status.value == "FINISHED", outcome.error
    compile_points = [m for m in fake.only_run().metrics if m.key == "train_compile_seconds"]
    assert len(compile_points) == 1 and compile_points[0].step == 1 and compile_points[0].value > 0
    import json

    history = json.loads((outcome.run_dir / "metrics" / "history.json").read_text())
    assert "train_compile_seconds" not in history  # one value per epoch, every column
    assert all(len(v) == len(history["epochs"]) for v in history.values())
    state = torch.load(outcome.run_dir / "models" / "best.pt", weights_only=True)["model_state"]
    assert not any(k.startswith("_orig_mod.") for k in state)  # loads into an uncompiled MLP


def test_a_checkpoint_written_on_cuda_resumes_on_a_cpu(tmp_path, monkeypatch):
    """`last.pt` whose tensors say cuda:0 (made here without a GPU, by tagging each storage as torch.save
    writes it): a resume on this CPU loads it with map_location and continues."""
    first, _ = _run(tmp_path, {"device": "cpu"})
    last = first.run_dir / "models" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(ckpt, last)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="(?i)cuda"):
            torch.load(last, weights_only=True)  # the file really says cuda
    resumed, fake = _run(tmp_path, {"device": "cpu", "epochs": 3}, resume={"run_id": first.run_id})
    assert resumed.status.value == "FINISHED", resumed.error
    assert [m.step for m in fake.only_run().metrics if m.key == "train_loss"] == [3]


@GPU
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_on_cuda_trains_and_records_peak_memory(tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    outcome, fake = _run(tmp_path, {"device": "cuda", "precision": precision})
    assert outcome.status.value == "FINISHED", outcome.error
    keys = {m.key for m in fake.only_run().metrics}
    assert "train_gpu_peak_mem_mb" in keys and fake.only_run().params["train.device_used"].startswith("cuda:")


@GPU
def test_a_cpu_checkpoint_resumes_on_cuda(tmp_path):
    first, _ = _run(tmp_path, {"device": "cpu"})
    resumed, _ = _run(tmp_path, {"device": "cuda", "epochs": 3}, resume={"run_id": first.run_id})
    assert resumed.status.value == "FINISHED", resumed.error


def test_the_fp16_gradient_scale_is_kept_in_the_checkpoint_and_restored_on_resume():
    """A resumed fp16 run continues with the scale the first run had grown or backed off to, not the
    initial 65536 (which would overflow and skip steps again). CPU GradScaler stands in for CUDA's."""
    from plugins.common.torch_train.accel import Accel

    first = Accel(torch.device("cpu"))
    assert first.state_dict() is None  # fp32: nothing to keep
    first.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    saved = first.state_dict()
    assert saved["scale"] == 1024.0

    resumed = Accel(torch.device("cpu"))
    resumed.scaler = torch.amp.GradScaler("cpu")
    resumed.load_state_dict(saved)
    assert resumed.scaler.get_scale() == 1024.0
    resumed.load_state_dict(None)  # a checkpoint from before the scaler was saved: the scale restarts
    assert resumed.scaler.get_scale() == 1024.0


def test_a_checkpoint_says_it_has_no_scaler_and_one_without_the_key_still_resumes(tmp_path):
    first, _ = _run(tmp_path, {"device": "cpu"})
    last = first.run_dir / "models" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["scaler_state"] is None
    del ckpt["scaler_state"]  # written before the scaler was saved
    torch.save(ckpt, last)
    resumed, _ = _run(tmp_path, {"device": "cpu", "epochs": 3}, resume={"run_id": first.run_id})
    assert resumed.status.value == "FINISHED", resumed.error


@GPU
def test_an_fp16_run_resumes_with_its_gradient_scale(tmp_path):
    first, _ = _run(tmp_path, {"device": "cuda", "precision": "fp16"})
    saved = torch.load(first.run_dir / "models" / "last.pt", weights_only=True)["scaler_state"]
    assert saved and saved["scale"] > 0
    resumed, _ = _run(tmp_path, {"device": "cuda", "precision": "fp16", "epochs": 3}, resume={"run_id": first.run_id})
    assert resumed.status.value == "FINISHED", resumed.error
