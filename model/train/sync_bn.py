"""Batch norm over the global batch of a data-parallel run, as one autograd function.

A data-parallel step must normalise with the statistics of every rank's rows, or it is
not the maths of one GPU at the same global batch. The first version built that from
element-wise torch ops around a differentiable all-reduce: each BN layer took about ten
full passes over its (batch, 1375, channels) activations forward and backward, against
two each way for the fused kernel one GPU runs (model/train/torch_bn.py).

Here forward and backward are written out, as torch's own SyncBatchNorm does, with two
collectives per layer and step (the per-rank moments forward, two channel sums
backward) and, on CUDA, torch's fused batch-norm kernels for every pass over the
activations. Unlike torch's SyncBatchNorm it never reads a device value on the host
(its empty-rank filter does), so the lean step keeps queueing ahead of the GPU. On the
CPU (gloo, the tests) the same maths runs as plain tensor expressions.

Maths, with n rows per rank and N = world * n:
    mean = mean of the ranks' means; var = mean of (var_r + (mean_r - mean)^2)  (biased)
    y = (x - mean) * invstd * gamma + beta,  invstd = 1 / sqrt(var + eps)
    dx = (dy - sum(dy) / N - (x - mean) * invstd^2 * sum(dy * (x - mean)) / N) * invstd * gamma
with sum() over every rank's rows; dgamma and dbeta stay this rank's sums (the step
averages every gradient over ranks afterwards).
"""
from __future__ import annotations

import torch


def _gather_rows(t: torch.Tensor) -> torch.Tensor:
    """(world, len) stack of every rank's 1-D ``t``."""
    import torch.distributed as dist
    world = dist.get_world_size()
    out = torch.empty((world, t.numel()), dtype=t.dtype, device=t.device)
    if dist.get_backend() == "nccl":
        dist.all_gather_into_tensor(out, t.contiguous())
    else:  # gloo has no all_gather_into_tensor
        dist.all_gather(list(out.unbind(0)), t.contiguous())
    return out


def _global_moments(x: torch.Tensor, eps: float):
    """(mean, biased var, invstd, rows in all) over every rank's rows of (rows, C) ``x``."""
    c = x.shape[1]
    if x.is_cuda:
        mean_l, invstd_l = torch.batch_norm_stats(x, eps)
        var_l = invstd_l.pow(-2) - eps
    else:
        var_l, mean_l = torch.var_mean(x, dim=0, correction=0)
    rows = torch.full((1,), float(x.shape[0]), dtype=torch.float32, device=x.device)
    gathered = _gather_rows(torch.cat([mean_l, var_l, rows]))
    means, variances, counts = gathered[:, :c], gathered[:, c:2 * c], gathered[:, 2 * c:]
    total = counts.sum()
    mean = (means * counts).sum(0) / total
    var = ((variances + (means - mean) ** 2) * counts).sum(0) / total
    return mean, var, torch.rsqrt(var + eps), total


class SyncBatchNormFn(torch.autograd.Function):
    """Training-mode batch norm of (rows, C) float32 ``x`` with global-batch statistics.

    ``apply(x, gamma, beta, eps)`` returns (y, mean, biased var); only y has a gradient.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps: float):
        mean, var, invstd, total = _global_moments(x, eps)
        if x.is_cuda:
            y = torch.batch_norm_elemt(x, gamma, beta, mean, invstd, eps)
        else:
            y = (x - mean) * (invstd * gamma) + beta
        ctx.save_for_backward(x, gamma, mean, invstd, total)
        ctx.mark_non_differentiable(mean, var)  # returned for the moving averages only
        return y, mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        import torch.distributed as dist
        x, gamma, mean, invstd, total = ctx.saved_tensors
        dy = dy.contiguous()
        c = x.shape[1]
        if x.is_cuda:
            sum_dy, sum_dy_xmu, dgamma, dbeta = torch.batch_norm_backward_reduce(
                dy, x, mean, invstd, gamma, True, True, True)
        else:
            xmu = x - mean
            sum_dy, sum_dy_xmu = dy.sum(0), (dy * xmu).sum(0)
            dgamma, dbeta = sum_dy_xmu * invstd, sum_dy.clone()
        sums = torch.cat([sum_dy, sum_dy_xmu])
        dist.all_reduce(sums)
        g_dy, g_dy_xmu = sums[:c], sums[c:]
        if x.is_cuda:
            world = dist.get_world_size()
            counts = (total / world).round().to(torch.int32).expand(world).contiguous()
            dx = torch.batch_norm_backward_elemt(dy, x, mean, invstd, gamma, g_dy, g_dy_xmu,
                                                 counts)
        else:
            dx = (dy - g_dy / total - (x - mean) * invstd * invstd * g_dy_xmu / total) \
                * (invstd * gamma)
        return dx, dgamma, dbeta, None


def bn_train_global(layer, inputs: torch.Tensor) -> torch.Tensor:
    """Training-mode Keras batch norm over the last axis with the global batch's statistics.

    Same contract as model/train/torch_bn.py's ``bn_train_fused`` (biased variance,
    Keras's moving averages ``moving * momentum + batch * (1 - momentum)``).

    Args:
        layer: a built keras.layers.BatchNormalization over the last axis.
        inputs: (..., channels) activations in any float dtype.

    Returns:
        Normalised activations in the layer's compute dtype, same shape as ``inputs``.
    """
    from .torch_bn import _torch_dtype
    x = inputs.float().reshape(-1, inputs.shape[-1]).contiguous()
    out, mean, var = SyncBatchNormFn.apply(x, layer.gamma.value.float(),
                                           layer.beta.value.float(), float(layer.epsilon))
    with torch.no_grad():
        m = float(layer.momentum)
        for moving, batch in ((layer.moving_mean.value, mean), (layer.moving_variance.value, var)):
            moving.mul_(m).add_(batch.to(moving.dtype), alpha=1.0 - m)
    return out.reshape(inputs.shape).to(_torch_dtype(layer.compute_dtype))
