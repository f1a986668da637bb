"""The torch-only engine parts (packed GRU weights, fused batch norm, lean steps) on this CPU.

They run on the lent GPU in production; here torch's CPU build runs the same Python code
in a subprocess with KERAS_BACKEND=torch (this process has TensorFlow's backend loaded).
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


def test_lean_steps_match_keras_train_on_batch(checks):
    """Three engine steps (Adam, fused BN) land where Keras's own steps land."""
    lean = checks["lean"]
    assert lean["max_weight_change"] > 1e-3  # the steps did move the weights
    assert lean["max_weight_diff"] < 1e-3 * lean["max_weight_change"]


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


def test_torch_detection_of_the_shipped_pair_matches_tensorflow():
    """Streaming detection on torch (no autograd history) gives TensorFlow's probabilities."""
    from model.detect.detector import Detector

    clip = ROOT / "assets" / "samples" / "example_001.wav"
    proc = subprocess.run([sys.executable, "-m", "model", "detect", str(clip), "--json"],
                          capture_output=True, text=True, env=_torch_env(), timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch_result = json.loads(proc.stdout.splitlines()[-1])
    tf_result = Detector("pretrained").detect_file(clip)
    assert tf_result.feature_kind == "log-power-v1+pcen-v1"  # both networks ran
    assert len(torch_result["detections"]) == len(tf_result.detections) == 3
    assert max(abs(a - float(b)) for a, b in zip(torch_result["probabilities"],
                                                 tf_result.probabilities)) < 1e-3
