"""A training step for the torch backend that never makes the host wait for the GPU.

Same maths as Keras's ``train_step`` with its Adam (and, for amp-fp16, its dynamic
LossScaleOptimizer): forward through the Keras model, mean binary cross-entropy on
clipped float32 probabilities, backward, Adam in torch's multi-tensor ops on the Keras
optimizer's own moment variables, so a saved model carries the real optimizer state.

What differs is only where scalars live. Keras turns Python numbers (the step count, the
batch size of the loss tracker, beta powers) into new device tensors every step and
decides the loss-scale update with a Python ``if`` on a device value; each of those waits
for the GPU to drain (torch's sync debug mode counted 8 per step, 12 with loss scaling),
so the host could never queue step n+1 while step n ran. Here the step count is a host
integer, the loss-scale decision a ``torch.where`` on the device, and the epoch's loss a
device sum read once. The batch-norm layers' training calls run as one fused torch
kernel each (model/train/torch_bn.py).
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-7  # Keras's backend epsilon (probability clipping)


class TorchLeanStep:
    """Runs optimizer steps for a compiled Keras model (torch backend)."""

    def __init__(self, model):
        """Bind to ``model``'s compiled Adam; raises AttributeError if it is not one we know."""
        import torch

        self.torch, self.model = torch, model
        opt = model.optimizer
        self.scaler = opt if hasattr(opt, "inner_optimizer") else None
        self.adam = opt.inner_optimizer if self.scaler is not None else opt
        if type(self.adam).__name__ != "Adam" or getattr(self.adam, "amsgrad", False):
            raise AttributeError(f"lean step knows plain Adam only, not {type(self.adam).__name__}")
        if not opt.built:  # a second build would make fresh (zero) moment variables
            opt.build(model.trainable_variables)
        self.keras_vars = list(model.trainable_variables)
        self.params = [v.value for v in self.keras_vars]
        self.m = [self.adam._momentums[self.adam._get_variable_index(v)].value for v in self.keras_vars]
        self.v = [self.adam._velocities[self.adam._get_variable_index(v)].value for v in self.keras_vars]
        self.lr = float(np.asarray(self.adam.learning_rate))
        self.b1, self.b2, self.eps = float(self.adam.beta_1), float(self.adam.beta_2), float(self.adam.epsilon)
        self.t = int(np.asarray(self.adam.iterations))  # optimizer steps taken (host copy)
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self.steps = 0
        from . import distributed
        from .sync_bn import bn_train_global
        from .torch_bn import install_fused_bn
        self.rank = distributed.current()  # None outside a data-parallel run
        sync_bn = bn_train_global if self.rank is not None else None
        self.fused_bn = install_fused_bn(model, sync_bn)  # BN layers whose training call is fused
        if self.rank is not None:
            distributed.broadcast_tensors(self.params + self._bn_moving())

    def _bn_moving(self) -> list:
        """Batch-norm moving statistics (not trainable, but they must match on every rank)."""
        return [v.value for v in self.model.non_trainable_variables
                if "moving_" in v.path or "moving_" in v.name]

    def start_epoch(self) -> None:
        """Zero the device-side loss sum."""
        self.loss_sum.zero_()
        self.steps = 0

    def loss(self, x, y):
        """Keras's binary cross-entropy on probabilities, mean over batch and steps."""
        torch = self.torch
        probs = self.model(x, training=True).float()
        p = probs.clamp(_EPS, 1.0 - _EPS)
        return torch.nn.functional.binary_cross_entropy(p, y.to(p.dtype))

    def step(self, x, y) -> None:
        """One optimizer step on a batch; queues work and returns without waiting.

        Args:
            x, y: device tensors (device-resident feed) or numpy arrays (host feed: copied
                to the model's device here).
        """
        device = self.params[0].device
        x, y = (self.torch.as_tensor(a, device=device) for a in (x, y))
        loss = self.loss(x, y)
        self.loss_sum += loss.detach()
        self.steps += 1
        for p in self.params:
            p.grad = None
        scale = self.scaler.dynamic_scale.value if self.scaler is not None else None
        (loss * scale if scale is not None else loss).backward()
        grads = [p.grad if p.grad is not None else self.torch.zeros_like(p) for p in self.params]
        if self.rank is not None:
            from .distributed import allreduce_mean
            allreduce_mean(grads)
        with self.torch.no_grad():
            if scale is None:
                self._adam_plain(grads)
            else:
                self._adam_scaled(grads, scale)

    def _alpha(self, t: int) -> float:
        """Adam's bias-corrected step size at step t, in float32 as Keras computes it."""
        f = np.float32
        return float(f(self.lr) * np.sqrt(f(1) - f(self.b2) ** f(t)) / (f(1) - f(self.b1) ** f(t)))

    def _adam_plain(self, grads) -> None:
        torch = self.torch
        self.t += 1
        alpha = self._alpha(self.t)
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_add_(self.v, torch._foreach_mul(grads, grads), alpha=1 - self.b2)
        denom = torch._foreach_add(torch._foreach_sqrt(self.v), self.eps)
        torch._foreach_add_(self.params, torch._foreach_div(torch._foreach_mul(self.m, alpha), denom),
                            alpha=-1)
        self.adam.iterations.value.add_(1)

    def _adam_scaled(self, grads, scale) -> None:
        """Unscale, then apply Adam only where every gradient is finite (as Keras's cond)."""
        torch = self.torch
        grads = torch._foreach_div(grads, scale)
        finite = torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()
        iters = self.adam.iterations.value
        t = (iters + 1).to(torch.float32)
        alpha = self.lr * torch.sqrt(1 - torch.pow(self.b2, t)) / (1 - torch.pow(self.b1, t))
        m_new = torch._foreach_add(torch._foreach_mul(self.m, self.b1), grads, alpha=1 - self.b1)
        v_new = torch._foreach_add(torch._foreach_mul(self.v, self.b2),
                                   torch._foreach_mul(grads, grads), alpha=1 - self.b2)
        upd = torch._foreach_div(torch._foreach_mul(m_new, alpha),
                                 torch._foreach_add(torch._foreach_sqrt(v_new), self.eps))
        p_new = torch._foreach_sub(self.params, upd)
        for olds, news in ((self.m, m_new), (self.v, v_new), (self.params, p_new)):
            for old, new in zip(olds, news):
                old.copy_(torch.where(finite, new, old))
        iters.add_(finite.to(iters.dtype))
        self._update_scale(finite)

    def _update_scale(self, finite) -> None:
        """Keras's dynamic loss scale: x2 after growth_steps finite steps, /2 on overflow."""
        torch = self.torch
        scale, counter = self.scaler.dynamic_scale.value, self.scaler.step_counter.value
        at_growth = counter == (self.scaler.dynamic_growth_steps - 1)
        new_scale = torch.where(finite, torch.where(at_growth, scale * 2.0, scale), scale * 0.5)
        new_counter = torch.where(finite & ~at_growth, counter + 1, torch.zeros_like(counter))
        scale.copy_(new_scale)
        counter.copy_(new_counter)

    def epoch_loss(self) -> float:
        """Mean loss of this epoch's steps (the one host read of the epoch)."""
        if self.steps == 0:
            return float("nan")
        from .distributed import allreduce_sum_scalar
        world = self.rank.world if self.rank is not None else 1
        return float(allreduce_sum_scalar(self.loss_sum).item()) / (self.steps * world)
