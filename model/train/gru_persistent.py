"""A persistent GRU in Triton: one launch runs every time step for a tile of the batch.

Keras's GRU with ``reset_after=True`` (gate order [z, r, h], sigmoid and tanh)::

    x_z, x_r, x_h = x_t @ W + b_in                  (one GEMM for all steps, before the loop)
    g_z, g_r, g_h = h_{t-1} @ U + b_rec             (inside the loop: the recurrence)
    z = sigmoid(x_z + g_z); r = sigmoid(x_r + g_r); n = tanh(x_h + r * g_h)
    h_t = z * h_{t-1} + (1 - z) * n

cuDNN launches a kernel per step (or per few steps), so at batch 64 a 1,375-step layer is
bound by launch and synchronisation latency. Here each program owns ``BB`` rows of the
batch and walks all steps itself: the recurrent weights are loaded once, before the loop,
and stay on chip; the next step's inputs are fetched while this step computes; the gate
maths and the state update are fused; the state is carried in float32 whatever the
compute dtype, and every product accumulates in float32. The forward pass stashes
z, r, n and g_h (float32) for the backward pass, which walks the steps in reverse with
the transposed recurrent weights on chip and writes, per step, the gradients of the
input projections and of the recurrent projections; the weight gradients are then two
large GEMMs over all steps (model/train/gru_persistent_op.py).

Why Triton rather than CUDA: Triton ships inside the torch wheel that both this machine
and the GPU machine already have, it compiles at run time for the GPU it finds (no nvcc,
no build step, no binary to carry between machines), and ``TRITON_INTERPRET=1`` runs the
very same kernel source on the CPU, so CI checks it against Keras without a GPU. The cost
is less control over registers and shared memory than hand-written CUDA would give.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    # 2*sigmoid(2x) - 1: exact in real arithmetic, and exp() exists on every Triton target
    return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0


@triton.jit
def _dot(a, w, PREC: tl.constexpr, UPCAST: tl.constexpr):
    """a (float32) rounded to w's dtype, times w, accumulated in float32.

    UPCAST (set only under TRITON_INTERPRET=1): multiply the rounded operands as float32,
    the same products exactly; the interpreter's own bfloat16 dot returns garbage."""
    if UPCAST:
        return tl.dot(a.to(w.dtype).to(tl.float32), w.to(tl.float32), input_precision="ieee")
    return tl.dot(a.to(w.dtype), w, input_precision=PREC)


@triton.jit
def _load_block(base, cols, mask, U: tl.constexpr, n: tl.constexpr):
    """The n-th (BB, U) block of a row-major (BB, k*U) slab, as float32."""
    return tl.load(base + n * U + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _gru_fwd_kernel(xp_ptr, rk_ptr, brec_ptr, h0_ptr, out_ptr, stash_ptr, B, T,
                    U: tl.constexpr, BB: tl.constexpr, PREC: tl.constexpr,
                    STASH: tl.constexpr, UPCAST: tl.constexpr):
    """xp (B, T, 3U) input projections (b_in added); rk (U, 3U); brec (3U,) float32;
    h0 (B, U); out (B, T, U) in the compute dtype; stash (B, T, 4U) float32 [z, r, n, g_h]."""
    rows = (tl.program_id(0) * BB + tl.arange(0, BB)).to(tl.int64)
    cols = tl.arange(0, U)
    kk = tl.arange(0, U)
    mask = rows[:, None] < B
    w_at = rk_ptr + kk[:, None] * (3 * U) + cols[None, :]
    uz, ur, uh = tl.load(w_at), tl.load(w_at + U), tl.load(w_at + 2 * U)
    bz = tl.load(brec_ptr + cols)[None, :]
    br = tl.load(brec_ptr + U + cols)[None, :]
    bh = tl.load(brec_ptr + 2 * U + cols)[None, :]
    h = tl.load(h0_ptr + rows[:, None] * U + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    x_row = xp_ptr + rows[:, None] * (T * 3 * U)
    o_row = out_ptr + rows[:, None] * (T * U) + cols[None, :]
    s_row = stash_ptr + rows[:, None] * (T * 4 * U) + cols[None, :]
    xz = _load_block(x_row, cols, mask, U, 0)
    xr = _load_block(x_row, cols, mask, U, 1)
    xh = _load_block(x_row, cols, mask, U, 2)
    for t in range(T):
        # fetch step t+1's projections now: they do not depend on h, so their latency hides
        nxt = x_row + (t + 1) * (3 * U)
        more = mask & (t + 1 < T)
        nz, nr, nh = (_load_block(nxt, cols, more, U, 0), _load_block(nxt, cols, more, U, 1),
                      _load_block(nxt, cols, more, U, 2))
        gz = _dot(h, uz, PREC, UPCAST) + bz
        gr = _dot(h, ur, PREC, UPCAST) + br
        gh = _dot(h, uh, PREC, UPCAST) + bh
        z = _sigmoid(xz + gz)
        r = _sigmoid(xr + gr)
        n = _tanh(xh + r * gh)
        h = z * h + (1.0 - z) * n
        tl.store(o_row + t * U, h.to(out_ptr.dtype.element_ty), mask=mask)
        if STASH:
            s_at = s_row + t * (4 * U)
            tl.store(s_at, z, mask=mask)
            tl.store(s_at + U, r, mask=mask)
            tl.store(s_at + 2 * U, n, mask=mask)
            tl.store(s_at + 3 * U, gh, mask=mask)
        xz, xr, xh = nz, nr, nh


@triton.jit
def _bwd_step_loads(dout_row, s_row, o_row, h0, cols, mask, t, U: tl.constexpr):
    """Everything step t's backward needs that does not depend on the carried gradient."""
    dy = tl.load(dout_row + t * U, mask=mask, other=0.0).to(tl.float32)
    s_at = s_row + t * (4 * U)
    z = tl.load(s_at, mask=mask, other=0.0)
    r = tl.load(s_at + U, mask=mask, other=0.0)
    n = tl.load(s_at + 2 * U, mask=mask, other=0.0)
    gh = tl.load(s_at + 3 * U, mask=mask, other=0.0)
    prev = tl.load(o_row + (t - 1) * U, mask=mask & (t > 0), other=0.0).to(tl.float32)
    hp = tl.where(t > 0, prev, h0)
    return dy, z, r, n, gh, hp


@triton.jit
def _gru_bwd_kernel(dout_ptr, stash_ptr, out_ptr, h0_ptr, rk_ptr, dxp_ptr, dgh_ptr, dh0_ptr,
                    B, T, U: tl.constexpr, BB: tl.constexpr, PREC: tl.constexpr,
                    UPCAST: tl.constexpr):
    """dout (B, T, U) gradient of every step's output; writes dxp and dgh (B, T, 3U), the
    gradients of the input and recurrent projections, and dh0 (B, U) float32."""
    rows = (tl.program_id(0) * BB + tl.arange(0, BB)).to(tl.int64)
    cols = tl.arange(0, U)
    kk = tl.arange(0, U)
    mask = rows[:, None] < B
    # transposed blocks: ut[j, k] = U[k, j], so dg (BB, U) @ ut gives dg @ U_block^T
    wt_at = rk_ptr + cols[None, :] * (3 * U) + kk[:, None]
    uzt, urt, uht = tl.load(wt_at), tl.load(wt_at + U), tl.load(wt_at + 2 * U)
    h0 = tl.load(h0_ptr + rows[:, None] * U + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    dout_row = dout_ptr + rows[:, None] * (T * U) + cols[None, :]
    o_row = out_ptr + rows[:, None] * (T * U) + cols[None, :]
    s_row = stash_ptr + rows[:, None] * (T * 4 * U) + cols[None, :]
    g_row = rows[:, None] * (T * 3 * U) + cols[None, :]
    carry = tl.zeros((BB, U), dtype=tl.float32)
    dy, z, r, n, gh, hp = _bwd_step_loads(dout_row, s_row, o_row, h0, cols, mask, T - 1, U)
    for i in range(T):
        t = T - 1 - i
        tp = tl.maximum(t - 1, 0)
        ndy, nz, nr, nn, ngh, nhp = _bwd_step_loads(dout_row, s_row, o_row, h0, cols,
                                                    mask & (t > 0), tp, U)
        dh = carry + dy
        dan = dh * (1.0 - z) * (1.0 - n * n)
        daz = dh * (hp - n) * z * (1.0 - z)
        dar = dan * gh * r * (1.0 - r)
        dgh_h = dan * r
        at = g_row + t * (3 * U)
        tl.store(dxp_ptr + at, daz.to(dxp_ptr.dtype.element_ty), mask=mask)
        tl.store(dxp_ptr + at + U, dar.to(dxp_ptr.dtype.element_ty), mask=mask)
        tl.store(dxp_ptr + at + 2 * U, dan.to(dxp_ptr.dtype.element_ty), mask=mask)
        tl.store(dgh_ptr + at, daz.to(dgh_ptr.dtype.element_ty), mask=mask)
        tl.store(dgh_ptr + at + U, dar.to(dgh_ptr.dtype.element_ty), mask=mask)
        tl.store(dgh_ptr + at + 2 * U, dgh_h.to(dgh_ptr.dtype.element_ty), mask=mask)
        carry = dh * z
        carry += _dot(daz, uzt, PREC, UPCAST)
        carry += _dot(dar, urt, PREC, UPCAST)
        carry += _dot(dgh_h, uht, PREC, UPCAST)
        dy, z, r, n, gh, hp = ndy, nz, nr, nn, ngh, nhp
    tl.store(dh0_ptr + rows[:, None] * U + cols[None, :], carry, mask=mask)
