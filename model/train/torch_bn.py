"""Keras BatchNormalization's training step as one fused torch kernel (torch backend only).

Keras 3.15 computes a training-mode batch norm on torch from separate element-wise ops:
mean, mean of squares (E[x^2] - E[x]^2), subtract, multiply, add, each a full pass over
the (batch, 1375, channels) activations, forward and again backward. torch's own
``batch_norm`` does the same normalisation in two passes each way. The lean training
step (model/train/torch_step.py) swaps it in for the network's three BN layers.

Same maths as Keras's layer: normalise with the batch mean and biased variance,
``gamma * (x - mean) / sqrt(var + epsilon) + beta`` in float32, cast to the layer's
compute dtype; moving averages updated as ``moving * momentum + batch * (1 - momentum)``
with the biased variance. The rounding differs (torch accumulates the variance
directly instead of through E[x^2] - E[x]^2), which ``bench_gpu.py --check-maths``
measures. Outside training, and for any layer setting this does not cover (masks,
renorm, a channel axis other than the last, no centre or scale, synchronised BN), the
layer's own ``call`` runs.
"""
from __future__ import annotations

import torch


def fusable(layer) -> bool:
    """Whether ``layer`` is a BatchNormalization this module reproduces exactly."""
    if type(layer).__name__ != "BatchNormalization":
        return False
    axis = layer.axis if isinstance(layer.axis, int) else None
    try:  # a layer shared between several inputs has no single input shape: leave it alone
        rank = len(layer.input.shape) if getattr(layer, "_inbound_nodes", None) else None
    except (AttributeError, ValueError):
        rank = None
    return (not layer.renorm
            and layer.center and layer.scale and not getattr(layer, "synchronized", False)
            and axis is not None and rank is not None and axis in (-1, rank - 1))


def bn_train_fused(layer, inputs: torch.Tensor) -> torch.Tensor:
    """Training-mode forward of a Keras BN layer over the last axis; updates its moving stats.

    Args:
        layer: a built keras.layers.BatchNormalization (see :func:`fusable`).
        inputs: (..., channels) activations in any float dtype.

    Returns:
        Normalised activations in the layer's compute dtype, same shape as ``inputs``.
    """
    x = inputs.float().reshape(-1, inputs.shape[-1])
    out = torch.nn.functional.batch_norm(x, None, None, layer.gamma.value.float(),
                                         layer.beta.value.float(), training=True, momentum=0.0,
                                         eps=float(layer.epsilon))
    with torch.no_grad():
        var, mean = torch.var_mean(x, dim=0, correction=0)
        m = float(layer.momentum)
        for moving, batch in ((layer.moving_mean.value, mean), (layer.moving_variance.value, var)):
            moving.mul_(m).add_(batch.to(moving.dtype), alpha=1.0 - m)
    return out.reshape(inputs.shape).to(_torch_dtype(layer.compute_dtype))


def _torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float16": torch.float16,
            "bfloat16": torch.bfloat16}[str(name)]


def install_fused_bn(model, train_fn=None) -> list[str]:
    """Give each fusable BN layer of ``model`` the fused training call; returns their names.

    The layer's own ``call`` stays in place for inference, masks and anything else.

    Args:
        model: the Keras model.
        train_fn: the training call, ``(layer, inputs) -> outputs`` (default
            :func:`bn_train_fused`; a data-parallel run passes one with global statistics).
    """
    train_fn = train_fn or bn_train_fused
    names = []
    for layer in model.layers:
        if not fusable(layer) or getattr(layer, "_lab_fused_bn", False):
            continue
        original = layer.call

        def call(inputs, training=None, mask=None, _layer=layer, _original=original):
            if training and _layer.trainable and mask is None:
                return train_fn(_layer, inputs)
            return _original(inputs, training=training, mask=mask)

        layer.call = call
        layer._lab_fused_bn = True
        names.append(layer.name)
    return names
