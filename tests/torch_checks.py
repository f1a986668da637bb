"""Checks of the torch-only engine parts, run in a subprocess with KERAS_BACKEND=torch.

The test process has TensorFlow's Keras backend loaded, and Keras picks its backend once
per process, so tests/test_torch_engine.py runs this file with ``python`` and reads the
JSON it prints. On this CPU torch runs the same Python code as on the GPU, minus cuDNN.

    KERAS_BACKEND=torch python tests/torch_checks.py DATASET_DIR
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
assert os.environ.get("KERAS_BACKEND") == "torch"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tests.lr_check import weight_moves_under_lr  # noqa: E402


def flat_gru_vs_keras_loop() -> float:
    """model/train/torch_gru.py's packed call against Keras's own step-by-step GRU (outputs)."""
    from model.train.torch_gru import cudnn_gru_flat
    rnn = importlib.import_module("keras.src.backend.torch.rnn")
    g = torch.Generator().manual_seed(0)
    x, h0 = torch.randn(3, 20, 6, generator=g), torch.randn(3, 5, generator=g)
    k, rk, b = (torch.randn(6, 15, generator=g) * 0.3, torch.randn(5, 15, generator=g) * 0.3,
                torch.randn(2, 15, generator=g) * 0.1)
    _, ours, _ = cudnn_gru_flat(x, h0, k, rk, b, True)
    _, ref, _ = rnn._fallback_gru(x, h0, k, rk, b, torch.tanh, torch.sigmoid, True)
    return float((ours - ref).abs().max())


def fused_bn_vs_keras(policy: str) -> dict:
    """One training call of a BN layer, Keras's own against model/train/torch_bn.py's."""
    import keras

    from model.train.torch_bn import install_fused_bn
    results = []
    for fused in (False, True):
        keras.utils.set_random_seed(1)
        inp = keras.Input((50, 12))
        h = keras.layers.Dense(8, dtype=policy)(inp)
        h = keras.layers.BatchNormalization(dtype=policy, name="bn")(h)
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", dtype="float32")(h))
        bn = model.get_layer("bn")
        bn.gamma.assign(np.linspace(0.5, 2, 8))
        bn.beta.assign(np.linspace(-1, 1, 8))
        names = install_fused_bn(model) if fused else []
        x = torch.from_numpy(np.random.default_rng(0).normal(3, 2, (16, 50, 12)).astype("float32"))
        out = model(x, training=True)
        out.float().square().sum().backward()
        grads = [v.value.grad.detach().clone() for v in model.trainable_variables]
        results.append([out.detach().float(), model(x, training=False).detach().float(),
                        bn.moving_mean.value.detach().clone(),
                        bn.moving_variance.value.detach().clone()] + grads)
    # relative to each tensor's size, at least 1: the gradient of the bias before a BN is
    # zero in exact maths, so both sides hold only rounding noise there
    diffs = [float((a - b).abs().max()) for a, b in zip(*results)]
    sizes = [float(a.abs().max()) for a in results[0]]
    return {"fused_layers": names, "diffs": diffs, "sizes": sizes,
            "max_rel_diff": max(d / max(s, 1.0) for d, s in zip(diffs, sizes))}


def lean_vs_keras(dataset: str, precision: str) -> dict:
    """bench/engine_maths.check_maths on this CPU: lean steps against Keras's train_on_batch.

    A small network on 160-frame crops (37 GRU steps), 4 steps of 4 examples; amp-fp16
    runs float16 on the CPU (emulated but complete: every op of this network has a CPU
    half kernel) and goes through the loss-scaling sequence of engine_maths.
    """
    from engine_maths import check_maths

    from model.data.dataset import load_dataset
    from model.train.network import NetworkConfig
    data = load_dataset(dataset, check_values=False)
    return check_maths(precision, data, batch=4, steps=4, frames=160,
                       network=NetworkConfig(conv_filters=16, gru_units=8))


def masks_on_device() -> dict:
    """model/train/specaug.py's torch masking: filled with the clip mean, whole frames and bands."""
    from model.train.specaug import SpecAugmentConfig, mask_batches
    g = torch.Generator().manual_seed(0)
    x = torch.sign(torch.randn(4, 300, 101, generator=g)) * (1 + torch.rand(4, 300, 101, generator=g))
    y = torch.zeros(4, 75, 1)
    # through the feed wrapper, as trial.py uses it: tensors take the torch branch
    ((out, y_out),) = list(mask_batches(iter([(x, y)]), SpecAugmentConfig(2, 30, 2, 8),
                                        np.random.default_rng(1)))
    assert isinstance(out, torch.Tensor) and y_out is y
    changed = out != x
    fill_ok = all(bool((out[i][changed[i]] == x[i].mean()).all()) for i in range(4))
    frames, bands = changed.all(dim=2), changed.all(dim=1)
    stray = changed & ~frames[:, :, None] & ~bands[:, None, :]
    return {"fill_ok": fill_ok, "stray": int(stray.sum()), "changed": int(changed.sum()),
            "max_frames": int(frames.sum(dim=1).max()), "max_bands": int(bands.sum(dim=1).max())}


def main() -> int:
    out = {"flat_gru_max_diff": flat_gru_vs_keras_loop(),
           "bn_fp32": fused_bn_vs_keras("float32"),
           "bn_bf16": fused_bn_vs_keras("mixed_bfloat16"),
           "lean": {prec: lean_vs_keras(sys.argv[1], prec)
                    for prec in ("fp32", "amp-fp16", "amp-bf16")},
           "masks": masks_on_device(),
           "lr_moves": {mode: weight_moves_under_lr(mode, sys.argv[1]) for mode in ("lean", "sync")}}
    print("RESULT " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
