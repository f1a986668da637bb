"""The lean training step against Keras's own ``train_on_batch``: same maths, per precision.

Two models from one seed see the same batches. One trains with Keras's ``train_on_batch``
exactly as Keras ships it (its own BatchNormalization, its Adam, its LossScaleOptimizer);
the other with the engine's lean step (model/train/torch_step.py through
model/train/feed.py's step runner, with the fused batch norm of model/train/torch_bn.py).
Dropout is set to 0: its random draws are not what is being compared.

What is compared, each against its own scale:

* ``trainable``: every trainable weight but the pre-BN biases: ``rel_l2``, the L2 norm of
  the difference over that of the change (Keras's side), and the largest single
  difference against the largest change either side made. In half precision the largest
  single difference is a poor measure: a gradient element that is rounding noise can
  flip sign, and Adam's first steps are about the learning rate whatever the gradient's
  size, so one element can differ by up to 2 lr a step while the maths agree;
* ``null_grad``: biases that feed a batch norm (the conv bias). Their gradient is zero in
  exact maths, so both sides hold rounding noise, which Adam scales up to steps of about
  the learning rate: reported, not a measure of agreement;
* ``bn_stats``: moving means and variances, the difference relative to each statistic's
  size (the variance of unnormalised activations is large, so an absolute difference
  there says nothing about the trainable weights);
* ``losses``: each step's loss on both sides;
* with a LossScaleOptimizer (amp-fp16), the loss scale, its growth counter and Adam's
  step count after every step through: a good step, a step that grows the scale (the
  counter is preset to ``growth_steps - 2`` so the 2,000-step wait is not run), a step
  with a scale forced high enough to overflow (skipped: no weight may move, the scale
  halves), and a good step after it with the scale set back.
"""
from __future__ import annotations

import dataclasses
import gc

import numpy as np

OVERFLOW_SCALE = 2.0 ** 60  # loss x this overflows any float16 gradient (max 65504)
OVERFLOW_STEP = 2  # 0-based: the step run with OVERFLOW_SCALE (loss scaling only)
RESET_SCALE = 2.0 ** 10  # the scale set back after the overflow step
_NULL_GRAD = ("conv/bias",)  # variable paths (suffixes) whose gradient is zero in exact maths


def check_maths(precision: str, data, batch: int = 32, steps: int = 4, network=None,
                frames: int | None = None, device: str | None = None) -> dict:
    """Keras's ``train_on_batch`` against the engine's lean step, same seed and batches.

    Args:
        precision: "fp32", "tf32", "amp-fp16" or "amp-bf16".
        data: a Dataset (or anything with ``x_train``/``y_train`` arrays).
        batch: examples per step.
        steps: optimizer steps; with loss scaling at least 4 (see the module docstring).
        network: a NetworkConfig (default: the seed's); its dropout is set to 0.
        frames: input frames per clip (crops the clips, for a quick check); None: all.
        device: torch device for the batches; default "cuda" when available, else "cpu".

    Returns:
        Dict with ``trainable``, ``null_grad`` and ``bn_stats`` (each ``max_diff``,
        ``max_change``, ``worst``; ``trainable`` also ``rel_l2``), ``losses``,
        ``max_loss_diff``, ``fused_bn``, ``steps``, ``loss_scaling`` and, with loss
        scaling, ``scale_trace`` (per side: [scale, counter, iterations] after each step)
        and ``overflow_step_change`` (per side: largest trainable-weight move on the
        overflow step).
    """
    from model.train.network import NetworkConfig
    from model.train.trial_config import TrialConfig
    cfg = TrialConfig(precision=precision, batch_size=batch, seed=3,
                      network=dataclasses.replace(network or NetworkConfig(), dropout=0.0))
    x, y = _batches(data, batch * steps, frames, cfg.network)
    sides = {mode: _run_side(mode, cfg, x, y, batch, device) for mode in ("keras", "engine")}
    return _compare(sides["keras"], sides["engine"])


def _batches(data, n: int, frames: int | None, network) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` float32 training examples, cropped to ``frames`` input frames."""
    x = np.asarray(data.x_train[:n], np.float32)
    y = np.asarray(data.y_train[:n], np.float32)
    if frames is not None:
        out_steps = (frames - network.conv_kernel) // network.conv_stride + 1
        x, y = x[:, :frames], y[:, :out_steps]
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def _run_side(mode: str, cfg, x: np.ndarray, y: np.ndarray, batch: int,
              device: str | None) -> dict:
    """Train a fresh model ``len(x) // batch`` steps, Keras's way or the engine's.

    Returns:
        Dict: ``start``/``final`` (path -> array, with the trainable flag), ``losses``,
        ``trace`` and ``overflow_change`` (loss scaling only), ``fused_bn``.
    """
    import keras
    import torch

    from model.train.feed import TrainPath, make_step_runner
    from model.train.precision import apply_precision
    from model.train.trial import build_trial_model
    model = build_trial_model(cfg, apply_precision(cfg.precision))
    opt = model.optimizer
    scaler = opt if hasattr(opt, "inner_optimizer") else None
    if not opt.built:  # built now so the loss-scale state can be set before the first step
        opt.build(model.trainable_variables)
    runner = None
    if mode == "engine":
        runner = make_step_runner(model, TrainPath("device-resident", "lean", "check"))
        if runner.step_mode != "lean":  # a fallback would compare Keras with Keras
            raise RuntimeError(f"no lean step for this model: {runner.step_mode}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    start = _snapshot(model)
    losses, trace, overflow_change = [], [], None
    for i in range(len(x) // batch):
        _set_scale_state(scaler, i)
        xb = torch.from_numpy(x[i * batch:(i + 1) * batch]).to(device)
        yb = torch.from_numpy(y[i * batch:(i + 1) * batch]).to(device)
        before = _trainable(model) if scaler is not None and i == OVERFLOW_STEP else None
        losses.append(_one_step(model, runner, xb, yb))
        if before is not None:
            overflow_change = _max_change(before, _trainable(model))
        if scaler is not None:
            trace.append(_scale_state(scaler))
    out = {"start": start, "final": _snapshot(model), "losses": losses, "trace": trace,
           "overflow_change": overflow_change,
           "fused_bn": runner._lean.fused_bn if runner is not None else []}
    del model, runner
    keras.backend.clear_session()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _one_step(model, runner, xb, yb) -> float:
    """One optimizer step, Keras's (runner None) or the lean one; returns its loss."""
    if runner is None:
        return float(np.asarray(model.train_on_batch(xb, yb)).reshape(-1)[0])
    runner.start_epoch()  # one step per "epoch": its mean loss is the step's loss
    runner.step(xb, yb)
    return runner.epoch_loss()


def _set_scale_state(scaler, step: int) -> None:
    """Loss-scale state before ``step`` (same on both sides; see the module docstring)."""
    if scaler is None:
        return
    if step == 0:  # the second step reaches the growth point without 2,000 steps
        scaler.step_counter.assign(scaler.dynamic_growth_steps - 2)
    elif step == OVERFLOW_STEP:
        scaler.dynamic_scale.assign(OVERFLOW_SCALE)
    elif step == OVERFLOW_STEP + 1:
        scaler.dynamic_scale.assign(RESET_SCALE)


def _scale_state(scaler) -> list:
    """[loss scale, growth counter, Adam's step count] of a LossScaleOptimizer, as numbers."""
    import keras
    read = keras.ops.convert_to_numpy
    return [float(read(scaler.dynamic_scale)), int(read(scaler.step_counter)),
            int(read(scaler.inner_optimizer.iterations))]


def _snapshot(model) -> dict[str, tuple[bool, np.ndarray]]:
    """path -> (trainable, float64 copy) for every weight of ``model``."""
    import keras
    out = {}
    for trainable, variables in ((True, model.trainable_variables),
                                 (False, model.non_trainable_variables)):
        for v in variables:
            out[v.path] = (trainable, np.array(keras.ops.convert_to_numpy(v), np.float64))
    return out


def _trainable(model) -> list[np.ndarray]:
    import keras
    return [np.array(keras.ops.convert_to_numpy(v), np.float64) for v in model.trainable_variables]


def _max_change(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(after, before))


def _group(path: str, trainable: bool) -> str | None:
    """Which comparison a weight belongs to (None: not compared, e.g. a seed state)."""
    if trainable:
        return "null_grad" if path.endswith(_NULL_GRAD) else "trainable"
    if path.endswith(("moving_mean", "moving_variance")):
        return "bn_stats"
    return None


def _compare(keras_side: dict, engine_side: dict) -> dict:
    """Per group: largest difference, largest change (either side), the worst weight.

    ``bn_stats`` differences are relative to each statistic's largest magnitude (at least
    1); the trainable groups' are absolute, read against ``max_change`` (and ``rel_l2``).
    """
    groups: dict[str, dict] = {g: {"max_diff": 0.0, "max_change": 0.0, "worst": ""}
                               for g in ("trainable", "null_grad", "bn_stats")}
    sq_diff, sq_change = 0.0, 0.0  # trainable group, for rel_l2
    for path, (trainable, start) in keras_side["start"].items():
        group = _group(path, trainable)
        if group is None:
            continue
        a, b = keras_side["final"][path][1], engine_side["final"][path][1]
        diff = float(np.max(np.abs(a - b)))
        change = max(float(np.max(np.abs(a - start))), float(np.max(np.abs(b - start))))
        if group == "bn_stats":
            size = max(1.0, float(np.max(np.abs(a))))
            diff, change = diff / size, change / size
        elif group == "trainable":
            sq_diff += float(np.sum((a - b) ** 2))
            sq_change += float(np.sum((a - start) ** 2))
        g = groups[group]
        if diff >= g["max_diff"]:
            g["max_diff"], g["worst"] = diff, path
        g["max_change"] = max(g["max_change"], change)
    groups["trainable"]["rel_l2"] = float(np.sqrt(sq_diff / max(sq_change, 1e-300)))
    out = {**groups, "losses": {"keras": keras_side["losses"], "engine": engine_side["losses"]},
           "max_loss_diff": max(abs(a - b) for a, b in zip(keras_side["losses"],
                                                          engine_side["losses"])),
           "fused_bn": {"keras": keras_side["fused_bn"], "engine": engine_side["fused_bn"]},
           "steps": len(keras_side["losses"]), "loss_scaling": bool(keras_side["trace"])}
    if out["loss_scaling"]:
        out["scale_trace"] = {"keras": keras_side["trace"], "engine": engine_side["trace"]}
        out["overflow_step_change"] = {"keras": keras_side["overflow_change"],
                                       "engine": engine_side["overflow_change"]}
    return out
