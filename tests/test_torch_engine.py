"""The torch-only engine parts (packed GRU weights, fused batch norm, lean steps) on this CPU.

They run on the lent GPU in production; here torch's CPU build runs the same Python code
in a subprocess with KERAS_BACKEND=torch (this process has TensorFlow's backend loaded).
float16 runs on the CPU too (emulated, slow, but every op of the tiny network has a CPU
half kernel), so amp-fp16 and its loss scaling are checked here, not skipped.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tinydata import write_tiny_dataset

ROOT = Path(__file__).resolve().parent.parent


def _torch_env() -> dict:
    return {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT),
            "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    data = write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data", n_train=24, n_dev=8)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "torch_checks.py"), str(data)],
                          capture_output=True, text=True, env=_torch_env(), timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_packed_gru_matches_keras_gru_loop(checks):
    """Gate reordering and packing give Keras's GRU, to float32 rounding."""
    assert checks["flat_gru_max_diff"] < 1e-5


@pytest.mark.parametrize("policy", ["bn_fp32", "bn_bf16"])
def test_fused_batch_norm_matches_keras(checks, policy):
    """Outputs, inference outputs, moving statistics and every gradient, within rounding."""
    got = checks[policy]
    assert got["fused_layers"] == ["bn"]
    assert got["max_rel_diff"] < 1e-4
    assert got["diffs"][1] == 0.0  # inference runs Keras's own call


# Limits of lean steps against Keras's train_on_batch (bench/engine_maths.py), each group
# against its own scale. Measured on this CPU over several data seeds (largest seen):
# trainable rel_l2 fp32 1.8e-5, fp16 1.2e-2, bf16 3.6e-2; fp32 largest single difference
# 1.6e-3 of the largest change; BN statistics (relative) fp32 4e-7, half 7.3e-5; losses
# fp32 1.8e-7, half 7.6e-4. A wrong Adam epsilon gives rel_l2 0.75, no bias correction 3.4,
# a BN momentum of 0.9 for 0.99 a statistics difference of 0.29.
LIMITS = {"fp32": {"rel_l2": 1e-4, "bn_stats": 1e-5, "loss": 1e-5},
          "amp-fp16": {"rel_l2": 0.1, "bn_stats": 1e-3, "loss": 5e-3},
          "amp-bf16": {"rel_l2": 0.1, "bn_stats": 1e-3, "loss": 5e-3}}


@pytest.mark.parametrize("precision", ["fp32", "amp-fp16", "amp-bf16"])
def test_lean_steps_match_keras_train_on_batch(checks, precision):
    """Four lean steps (Adam, fused BN) land where four of Keras's own steps land.

    Keras's side runs its own batch norm (nothing fused), dropout is 0. Trainable weights
    (the pre-BN conv bias aside: its gradient is rounding noise on both sides) are limited
    by the L2 norm of the difference over that of the change: in half precision a gradient
    element that is pure rounding noise can flip sign, and Adam's first steps are about
    the learning rate whatever the gradient's size, so the largest single difference is
    bounded only by 2 lr a step there; in fp32 it is limited too. Moving statistics get
    their own limit, relative to their size.
    """
    got, limit = checks["lean"][precision], LIMITS[precision]
    assert got["fused_bn"] == {"keras": [], "engine": ["conv_bn", "gru1_bn", "gru2_bn"]}
    trainable, stats = got["trainable"], got["bn_stats"]
    assert trainable["max_change"] > 2e-3  # the steps did move the weights (lr 1e-3)
    assert trainable["rel_l2"] < limit["rel_l2"], trainable
    if precision == "fp32":
        assert trainable["max_diff"] < 1e-2 * trainable["max_change"], trainable
    assert stats["max_change"] > 1e-2 and stats["max_diff"] < limit["bn_stats"], stats
    assert got["null_grad"]["worst"] == "conv/bias"
    assert got["steps"] == 4 and got["max_loss_diff"] < limit["loss"], got["losses"]


def test_lean_loss_scaling_matches_keras_loss_scale_optimizer(checks):
    """amp-fp16: x2 after 2,000 good steps, skip and x0.5 on overflow, as Keras does.

    The growth counter starts at 1998, so step 2 doubles the scale; step 3 runs with a
    scale of 2**60 (every float16 gradient overflows): no trainable weight moves, Adam's
    step count stays, the scale halves; step 4, with the scale set to 1024, is good again.
    """
    got = checks["lean"]["amp-fp16"]
    want = [[2.0 ** 15, 1999, 1], [2.0 ** 16, 0, 2], [2.0 ** 59, 0, 2], [2.0 ** 10, 1, 3]]
    assert got["loss_scaling"]
    assert got["scale_trace"] == {"keras": want, "engine": want}
    assert got["overflow_step_change"] == {"keras": 0.0, "engine": 0.0}
    assert checks["lean"]["fp32"]["loss_scaling"] is False


@pytest.mark.parametrize("mode", ["lean", "sync"])
def test_learning_rate_changes_reach_torch_steps(checks, mode):
    """A schedule's rate is the next step's: 0 freezes the weights, 0.01 moves them again."""
    first, frozen, again = checks["lr_moves"][mode]
    assert first > 1e-4 and again > 1e-4 and frozen == 0.0


def test_device_masks_match_the_numpy_rules(checks):
    """SpecAugment on torch tensors: mean fill, only whole frames and bands, widths bounded."""
    m = checks["masks"]
    assert m["fill_ok"] and m["stray"] == 0 and m["changed"] > 0
    assert m["max_frames"] <= 2 * 30 and m["max_bands"] <= 2 * 8


def test_torch_cli_trial_runs_lean_steps_from_host_memory(tmp_path):
    """A CPU torch trial: host-memmap feed into lean steps (numpy batches), fused BN noted."""
    data = write_tiny_dataset(tmp_path / "data", n_train=24, n_dev=8)
    proc = subprocess.run(
        [sys.executable, "-m", "model", "train", "--precisions", "fp32", "--batch-size", "8",
         "--epochs", "1", "--dataset", str(data), "--store", str(tmp_path / "lab.sqlite"),
         "--conv-filters", "8", "--gru-units", "4"],
        capture_output=True, text=True, env=_torch_env(), timeout=600, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "host-memmap, lean steps" in out and "fused batch norm in 3 layers" in out
    assert "fp32     seed 0: finished" in out


@pytest.mark.parametrize("spec,kind", [("model/pretrained/activate.keras", "log-power-v1+pcen-v1"),
                                       ("pretrained", "speech-embedding-v1")])
def test_torch_detection_of_the_shipped_models_matches_tensorflow(spec, kind):
    """Streaming detection on torch (no autograd history) gives TensorFlow's probabilities, for
    the spectrogram pair (both networks) and the shipped speech-embedding detector."""
    from model.detect.detector import Detector

    clip = ROOT / "assets" / "samples" / "example_001.wav"
    proc = subprocess.run([sys.executable, "-m", "model", "detect", str(clip), "--model", spec, "--json"],
                          capture_output=True, text=True, env=_torch_env(), timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch_result = json.loads(proc.stdout.splitlines()[-1])
    tf_result = Detector(ROOT / spec if spec.endswith(".keras") else spec).detect_file(clip)
    assert tf_result.feature_kind == kind  # both networks ran (the pair), or the head
    assert len(torch_result["detections"]) == len(tf_result.detections) == 3
    assert max(abs(a - float(b)) for a, b in zip(torch_result["probabilities"],
                                                 tf_result.probabilities)) < 1e-3
