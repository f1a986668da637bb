"""The yardstick: the trigger-word network written by hand in PyTorch, data on the GPU.

Same layers, sizes and maths as model/train/network.py (Conv1D 196x15 stride 4 -> BN -> ReLU ->
Dropout -> GRU 128 -> Dropout -> BN -> GRU 128 -> Dropout -> BN -> Dropout -> Dense 1,
sigmoid; Keras's BatchNormalization momentum 0.99 and epsilon 1e-3; Adam 1e-3 with
Keras's epsilon 1e-7; binary cross-entropy on clipped float32 probabilities), with
torch.nn.GRU (cuDNN), torch.autocast for AMP and a GradScaler for float16, and torch's fused
Adam (one kernel for all parameters; with it the GradScaler checks for overflow on the
device instead of reading a flag on the host every float16 step, which gained 6.7% at
batch 64). Nothing here is used by the product: it is what bench/bench_gpu.py measures
the engine against.
"""
from __future__ import annotations

import time

import torch
from torch import nn

_BCE_EPS = 1e-7  # Keras's clipping epsilon


class ReferenceNet(nn.Module):
    """(batch, frames, 101) -> (batch, steps, 1) probabilities, float32 output."""

    def __init__(self, n_freq: int = 101, filters: int = 196, kernel: int = 15, stride: int = 4,
                 units: int = 128, dropout: float = 0.8, rnn_dtype: torch.dtype | None = None):
        """rnn_dtype: run both GRUs in this dtype (float32 master weights cast per call,
        as Keras does); None leaves them to autocast, which runs cuDNN RNNs in float16
        even under a bfloat16 autocast (measured on torch 2.11: autocast's RNN rule
        casts to half whatever the autocast dtype)."""
        super().__init__()
        self.rnn_dtype = rnn_dtype
        self.conv = nn.Conv1d(n_freq, filters, kernel, stride=stride)
        self.bn0 = nn.BatchNorm1d(filters, eps=1e-3, momentum=0.01)
        self.gru1 = nn.GRU(filters, units, batch_first=True)
        self.bn1 = nn.BatchNorm1d(units, eps=1e-3, momentum=0.01)
        self.gru2 = nn.GRU(units, units, batch_first=True)
        self.bn2 = nn.BatchNorm1d(units, eps=1e-3, momentum=0.01)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn0(self.conv(x.transpose(1, 2)))  # (B, C, T): channels first for conv/BN
        h = self.drop(torch.relu(h)).transpose(1, 2)
        h = self._gru(self.gru1, h)
        h = self.bn1(self.drop(h).transpose(1, 2)).transpose(1, 2)
        h = self._gru(self.gru2, h)
        h = self.bn2(self.drop(h).transpose(1, 2)).transpose(1, 2)
        h = self.drop(h)
        with torch.autocast("cuda", enabled=False):  # the output layer stays float32
            return torch.sigmoid(self.out(h.float()))


    def _gru(self, gru: nn.GRU, h: torch.Tensor) -> torch.Tensor:
        if self.rnn_dtype is None:
            return gru(h)[0]
        with torch.autocast("cuda", enabled=False):
            # one cast of all four weights into one buffer, passed as views of it: the
            # packed layout cuDNN uses as it is (separate casts would make it repack)
            flat = torch.cat([w.reshape(-1) for w in gru._flat_weights]).to(self.rnn_dtype)
            weights, at = [], 0
            for w in gru._flat_weights:
                weights.append(flat[at:at + w.numel()].view(w.shape))
                at += w.numel()
            h0 = torch.zeros(1, h.shape[0], gru.hidden_size, device=h.device, dtype=self.rnn_dtype)
            return torch._VF.gru(h.to(self.rnn_dtype), h0, weights, True, 1, 0.0, self.training,
                                 False, True)[0]


def bce(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Keras's binary cross-entropy on probabilities (clipped), mean over everything."""
    p = probs.clamp(_BCE_EPS, 1.0 - _BCE_EPS)
    return -(labels * torch.log(p) + (1.0 - labels) * torch.log1p(-p)).mean()


def set_precision_flags(precision: str) -> None:
    """TF32 only for "tf32"; strict float32 elsewhere (as model/train/precision.py does)."""
    on = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def train_examples_per_s(precision: str, batch: int, x: torch.Tensor, y: torch.Tensor,
                         warmup_steps: int, timed_steps: int, repeats: int, seed: int = 0,
                         rnn_dtype: torch.dtype | None = None, fused_adam: bool = True) -> list[float]:
    """Steady training examples/s of the reference, ``repeats`` timings of ``timed_steps``.

    Args:
        precision: fp32, tf32, amp-fp16 or amp-bf16.
        batch: examples per step.
        x, y: float16 device tensors (m, frames, freq) and (m, steps, 1), m >= batch.
        warmup_steps: untimed steps first (cuDNN autotuning, allocator warm-up).
        timed_steps: steps per timing; one device synchronisation at each end.
        repeats: timings to return.
        rnn_dtype: see ReferenceNet (None: autocast decides).
        fused_adam: torch's fused Adam (False: the plain multi-tensor one).
    """
    torch.manual_seed(seed)
    set_precision_flags(precision)
    net = ReferenceNet(rnn_dtype=rnn_dtype).cuda()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=fused_adam)
    amp_dtype = {"amp-fp16": torch.float16, "amp-bf16": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "amp-fp16")
    gen = torch.Generator(device="cuda").manual_seed(seed)
    n_batches = x.shape[0] // batch

    def step(i: int) -> None:
        idx = torch.randperm(x.shape[0], device="cuda", generator=gen)[:batch] if i % n_batches == 0 \
            else torch.arange(i % n_batches * batch, (i % n_batches + 1) * batch, device="cuda")
        xb, yb = x.index_select(0, idx).float(), y.index_select(0, idx).float()
        with torch.autocast("cuda", dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = bce(net(xb), yb)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    net.train()
    for i in range(warmup_steps):
        step(i)
    rates = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(timed_steps):
            step(i)
        torch.cuda.synchronize()
        rates.append(batch * timed_steps / (time.perf_counter() - t0))
    return rates
