"""The persistent GRU (model/train/gru_persistent.py) as a torch autograd function.

Forward: one GEMM for every step's input projection (``x @ W + b_in``), then one kernel
launch for the recurrence. Backward: one kernel launch walks the steps in reverse and
writes the gradients of the input and recurrent projections for every step; the weight,
bias and input gradients are then large GEMMs and sums over batch and time.

Precision follows the tensors and torch's TF32 switch, as cuDNN does: float32 weights
run the recurrence in strict float32 unless ``torch.backends.cuda.matmul.allow_tf32`` is
on (then TF32), float16 and bfloat16 run their dots on the tensor cores; everything
accumulates in float32 and the state is carried in float32.

:func:`persistent_refusal` says why a call cannot run here ("" when it can), and
:func:`self_check` runs each new build (device, dtype, dot precision, units, launch shape)
once on a small problem, forward and backward, against cuDNN in float64 before the
kernel serves a real call: a build that does not compile, does not fit the device or
computes wrong numbers is refused. The caller (model/train/kernels.py) then runs cuDNN
and records the reason.
"""
from __future__ import annotations

import os

import torch

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# relative L2 error allowed against float64 in the self-check, by dot precision; a wrong
# gate or a missing gradient term is of order 1 (tests/test_gru_kernel.py sees the CPU's)
SELF_CHECK_LIMITS = {"float32": 1e-4, "tf32": 2e-2, "float16": 2e-2, "bfloat16": 8e-2}
_CHECKED: dict[tuple, str] = {}  # build -> "" (passed) or why it was refused
MAX_UNITS = 128  # the three recurrent blocks of U x U must stay on chip
# launch shape: batch rows per program (tl.dot needs at least 16; 16 spreads a small batch
# over the most multiprocessors) and warps per program. Compiled for sm_90 with Triton 3.8
# (bench/bench_gpu_gru.py --compile-report), 16 rows x 8 warps is the only shape tried whose
# fp16/bf16/tf32 passes spill nothing (4 warps spill; 32 or 64 rows spill, and their fp32
# backward wants more shared memory than a Hopper block has)
TUNING = {"block": 16, "warps": 8}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def persistent_refusal(inputs: torch.Tensor, recurrent_kernel: torch.Tensor, bias) -> str:
    """Why the persistent kernel cannot serve this call, or "" when it can.

    Args:
        inputs: (batch, time, features) in the compute dtype.
        recurrent_kernel: (units, 3*units).
        bias: (2, 3*units) (reset_after=True) or None.

    Returns:
        A one-line reason, e.g. "units 100 is not a power of two in 16..128".
    """
    units = int(recurrent_kernel.shape[0])
    if inputs.dtype not in _DTYPES:
        return f"dtype {inputs.dtype} is not float32, float16 or bfloat16"
    if units < 16 or units > MAX_UNITS or units & (units - 1):
        return f"units {units} is not a power of two in 16..{MAX_UNITS}"
    if bias is not None and tuple(bias.shape) != (2, 3 * units):
        return f"bias of shape {tuple(bias.shape)}, not (2, {3 * units}) (reset_after=True)"
    if inputs.dim() != 3 or inputs.shape[1] < 1:
        return f"inputs of shape {tuple(inputs.shape)}, not (batch, time >= 1, features)"
    if _interpreting():
        return ""
    if inputs.device.type != "cuda":
        return f"inputs on {inputs.device.type}, not a CUDA GPU"
    major, _minor = torch.cuda.get_device_capability(inputs.device)
    if major < 8:
        return f"compute capability {major}.x; the kernel needs 8.0 or newer (bf16 tensor cores)"
    try:
        import triton  # noqa: F401
    except ImportError as err:
        return f"triton not importable ({err})"
    return ""


def dot_precision(dtype: torch.dtype) -> str:
    """Triton's input_precision for the recurrent dots: "tf32" only where torch allows it."""
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


def _upcast(dtype: torch.dtype) -> bool:
    """Emulate bfloat16 dots in float32 under the interpreter (see gru_persistent._dot)."""
    return _interpreting() and dtype == torch.bfloat16


def pick_block(batch: int) -> int:
    """Batch rows per program (TUNING["block"], at most the batch rounded up to 16)."""
    return max(16, min(int(TUNING["block"]), 16 * triton_cdiv(batch, 16)))


RESOURCES: dict[str, dict] = {}  # per pass: registers, spills, shared memory of the last launch


def _note_resources(name: str, compiled) -> None:
    """Keep what the compiler gave the last launch (the bench reports it)."""
    meta = getattr(compiled, "metadata", None)
    RESOURCES[name] = {"registers": getattr(compiled, "n_regs", None),
                       "spills": getattr(compiled, "n_spills", None),
                       "shared_bytes": getattr(meta, "shared", None)}


def _launch_forward(xp, rk, brec, h0, stash: bool):
    from .gru_persistent import _gru_fwd_kernel
    batch, steps, units = xp.shape[0], xp.shape[1], rk.shape[0]
    out = torch.empty(batch, steps, units, dtype=xp.dtype, device=xp.device)
    st = (torch.empty(batch, steps, units, 4, dtype=torch.float32, device=xp.device)
          if stash else torch.empty(1, dtype=torch.float32, device=xp.device))
    bb = pick_block(batch)
    k = _gru_fwd_kernel[(triton_cdiv(batch, bb),)](
        xp, rk, brec, h0, out, st, batch, steps, U=units, BB=bb,
        PREC=dot_precision(rk.dtype), STASH=stash, UPCAST=_upcast(rk.dtype),
        num_warps=int(TUNING["warps"]))
    _note_resources("forward", k)
    return out, st


def _launch_backward(dout, stash, out, h0, rk):
    from .gru_persistent import _gru_bwd_kernel
    batch, steps, units = out.shape
    # zeros: the kernel writes three lanes; the fourth meets the zero lane of the input
    # weights in the GEMMs after the loop and must not hold NaN
    dxp = torch.zeros(batch, steps, units, 4, dtype=out.dtype, device=out.device)
    dgh = torch.zeros_like(dxp)
    dh0 = torch.empty(batch, units, dtype=torch.float32, device=out.device)
    bb = pick_block(batch)
    k = _gru_bwd_kernel[(triton_cdiv(batch, bb),)](
        dout, stash, out, h0, rk, dxp, dgh, dh0, batch, steps, U=units, BB=bb,
        PREC=dot_precision(rk.dtype), UPCAST=_upcast(rk.dtype),
        num_warps=int(TUNING["warps"]))
    _note_resources("backward", k)
    return dxp, dgh, dh0


def triton_cdiv(a: int, b: int) -> int:
    """Ceiling division (programs needed to cover ``a`` rows ``b`` at a time)."""
    return -(-a // b)


def _build_key(inputs: torch.Tensor, units: int) -> tuple:
    prec = dot_precision(inputs.dtype)
    return (str(inputs.device), inputs.dtype, prec, units, int(inputs.shape[-1]),
            pick_block(inputs.shape[0]), int(TUNING["warps"]))


def self_check(inputs: torch.Tensor, recurrent_kernel: torch.Tensor) -> str:
    """Run this call's build once on a small random problem against cuDNN in float64.

    Args:
        inputs: the real call's (batch, time, features), for device, dtype and width.
        recurrent_kernel: the real call's (units, 3*units).

    Returns:
        "" when outputs and every gradient are within SELF_CHECK_LIMITS, else why not.
    """
    key = _build_key(inputs, int(recurrent_kernel.shape[0]))
    if key not in _CHECKED:
        try:
            _CHECKED[key] = _run_self_check(inputs.device, inputs.dtype, key[3], key[4])
        except Exception as err:  # no build for this device: the reason goes to the record
            _CHECKED[key] = (f"self-check failed: {type(err).__name__}: "
                             f"{(str(err).strip().splitlines() or [''])[0]}")
    return _CHECKED[key]


def _run_self_check(device, dtype: torch.dtype, units: int, width: int) -> str:
    from .torch_gru import cudnn_gru_flat
    gen = torch.Generator(device="cpu").manual_seed(0)
    batch, steps = 5, 6

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(device)
    base = [rand(batch, steps, width), rand(batch, units, scale=0.5),
            rand(width, 3 * units, scale=width ** -0.5), rand(units, 3 * units, scale=units ** -0.5),
            rand(2, 3 * units, scale=0.1)]
    g = rand(batch, steps, units)
    results = []
    with torch.enable_grad():
        for fn, dt in ((cudnn_gru_flat, torch.float64), (persistent_gru, dtype)):
            leaves = [t.clone().requires_grad_(True) for t in base]
            _last, seq, _h = fn(*[t.to(dt) for t in leaves], True)
            grads = torch.autograd.grad(seq, leaves, g.to(dt))
            results.append([seq, *grads])
    name = "tf32" if dot_precision(dtype) == "tf32" else str(dtype).replace("torch.", "")
    for what, mine, ref in zip(["outputs", "x", "h0", "kernel", "recurrent_kernel", "bias"],
                               results[1], results[0]):
        err = float((mine.detach().double() - ref.detach()).norm() / ref.detach().norm().clamp_min(1e-30))
        if not err <= SELF_CHECK_LIMITS[name]:  # "not <=" also catches NaN
            return (f"self-check against cuDNN: relative error {err:.2g} in {what} "
                    f"(limit {SELF_CHECK_LIMITS[name]:g} for {name})")
    return ""


def to_lanes(w: torch.Tensor) -> torch.Tensor:
    """(..., 3U) in Keras's gate order [z, r, h] -> (..., U, 4) in the kernels' lanes
    [z, h, r, 0] (gru_persistent._pack4 of z, r, h, 0)."""
    z, r, h = torch.chunk(w, 3, dim=-1)
    return torch.stack([z, h, r, torch.zeros_like(z)], dim=-1)


def from_lanes(w4: torch.Tensor) -> torch.Tensor:
    """Inverse of to_lanes (the zero lane dropped)."""
    return torch.cat([w4[..., 0], w4[..., 2], w4[..., 1]], dim=-1)


class PersistentRecurrence(torch.autograd.Function):
    """outputs (batch, time, units) from the input projections xp (batch, time, units, 4,
    to_lanes order, b_in added), h0 (batch, units), recurrent_kernel (units, 3*units) and
    b_rec (3*units,) float32."""

    @staticmethod
    def forward(ctx, xp, h0, recurrent_kernel, b_rec):
        rk = recurrent_kernel.contiguous()
        need = any(ctx.needs_input_grad)
        out, stash = _launch_forward(xp.contiguous(), rk, b_rec.contiguous(), h0, need)
        if need:
            ctx.save_for_backward(h0, rk, stash, out)
        return out

    @staticmethod
    def backward(ctx, dout):
        h0, rk, stash, out = ctx.saved_tensors
        units = rk.shape[0]
        dxp, dgh, dh0 = _launch_backward(dout.contiguous(), stash, out, h0, rk)
        # the recurrent weights' gradient: one GEMM over every step of every example
        h_prev = torch.cat([h0.unsqueeze(1), out[:, :-1]], dim=1).reshape(-1, units)
        drk = from_lanes((h_prev.T @ dgh.reshape(-1, 4 * units)).reshape(units, units, 4))
        dbrec = from_lanes(dgh.reshape(-1, units, 4).float().sum(0))
        return dxp, dh0.to(h0.dtype), drk, dbrec


def persistent_layer(x, h0, kernel, recurrent_kernel, bias):
    """outputs (batch, time, units) of Keras's GRU (reset_after=True) through the kernels.

    The input projections of all steps are one GEMM before the recurrence, in torch
    autograd, so the gradients of the input and of ``kernel`` and ``b_in`` are GEMMs
    after the backward loop (torch's matmul backward).
    """
    batch, steps, width = x.shape
    units = recurrent_kernel.shape[0]
    w4 = to_lanes(kernel).reshape(width, 4 * units)
    x2 = x.reshape(batch * steps, width)
    if bias is not None:
        xp = torch.addmm(to_lanes(bias[0]).reshape(4 * units), x2, w4)
        b_rec = bias[1].float()
    else:
        xp = x2 @ w4
        b_rec = torch.zeros(3 * units, dtype=torch.float32, device=x.device)
    return PersistentRecurrence.apply(xp.reshape(batch, steps, units, 4), h0.contiguous(),
                                      recurrent_kernel, b_rec)


def persistent_gru(inputs, initial_state, kernel, recurrent_kernel, bias, return_sequences,
                   device=None):
    """Drop-in for ``keras.src.backend.torch.rnn._cudnn_gru`` (same arguments and returns).

    Args:
        inputs: (batch, time, features), already in the compute dtype.
        initial_state: (batch, units), (1, batch, units) or (batch, 1, units).
        kernel, recurrent_kernel, bias: Keras GRU weights, gate order [z, r, h].
        return_sequences: whether to return every step's output or only the last.
        device: unused (kept for the signature).

    Returns:
        (last_output (batch, units), outputs, [h_n (batch, units)]), as Keras returns them.
    """
    if initial_state.dim() == 3:  # (batch, 1, units) first, then (1, batch, units), as Keras
        initial_state = initial_state[:, 0] if initial_state.shape[1] == 1 else initial_state[0]
    outputs = persistent_layer(inputs.contiguous(), initial_state, kernel, recurrent_kernel,
                               bias)
    last = outputs[:, -1]
    if not return_sequences:
        outputs = last.unsqueeze(1)
    return last, outputs, [last]
