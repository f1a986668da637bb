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
input projections and of the recurrent projections; the weight gradients are then
large GEMMs over all steps (model/train/gru_persistent_op.py). Per-step tensors travel
lane-interleaved, (batch, time, units, 4): the forward loads and stores each as one
packed tensor rather than three or four, which on sm_90 cut its loop's barriers from 18
to 6 a step (each separate access moved its tensor to another register layout through
shared memory); the backward reads and writes the lanes one by one, which compiled to
fewer barriers there (22 in all against 46).

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
def _pack4(a, b, c, d):
    """Four (BB, U) tensors as one (BB, U, 2, 2): stored by one instruction stream, not four
    (each separate store moved its tensor to another register layout through shared
    memory, with two barriers a time; in memory the lanes of a unit come as a, c, b, d)."""
    return tl.join(tl.join(a, b), tl.join(c, d))


@triton.jit
def _unpack4(x):
    """Inverse of _pack4."""
    p, q = tl.split(x)
    a, b = tl.split(p)
    c, d = tl.split(q)
    return a, b, c, d


@triton.jit
def _lanes_at(base, rows, cols, T, U: tl.constexpr):
    """Pointers to step 0 of (B, T, U, 4) lane-interleaved rows, shaped (BB, U, 2, 2)."""
    q = tl.arange(0, 2)
    return (base + rows[:, None, None, None] * (T * 4 * U) + cols[None, :, None, None] * 4
            + q[None, None, :, None] * 2 + q[None, None, None, :])


@triton.jit
def _gru_fwd_kernel(xp_ptr, rk_ptr, brec_ptr, h0_ptr, out_ptr, stash_ptr, B, T,
                    U: tl.constexpr, BB: tl.constexpr, PREC: tl.constexpr,
                    STASH: tl.constexpr, UPCAST: tl.constexpr):
    """xp (B, T, U, 4) input projections (b_in added), lanes [z, h, r, 0] (_pack4's order
    of z, r, h, 0); rk (U, 3U); brec (3U,) float32; h0 (B, U); out (B, T, U) in the compute
    dtype; stash (B, T, U, 4) float32, _pack4(z, r, n, g_h)."""
    rows = (tl.program_id(0) * BB + tl.arange(0, BB)).to(tl.int64)
    cols = tl.arange(0, U)
    kk = tl.arange(0, U)
    mask = rows[:, None] < B
    mask4 = rows[:, None, None, None] < B
    w_at = rk_ptr + kk[:, None] * (3 * U) + cols[None, :]
    uz, ur, uh = tl.load(w_at), tl.load(w_at + U), tl.load(w_at + 2 * U)
    bz = tl.load(brec_ptr + cols)[None, :]
    br = tl.load(brec_ptr + U + cols)[None, :]
    bh = tl.load(brec_ptr + 2 * U + cols)[None, :]
    h = tl.load(h0_ptr + rows[:, None] * U + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    x4 = _lanes_at(xp_ptr, rows, cols, T, U)
    s4 = _lanes_at(stash_ptr, rows, cols, T, U)
    o_row = out_ptr + rows[:, None] * (T * U) + cols[None, :]
    cur = tl.load(x4, mask=mask4, other=0.0).to(tl.float32)
    for t in range(T):
        # fetch step t+1's projections now: they do not depend on h, so their latency hides
        nxt = tl.load(x4 + (t + 1) * (4 * U), mask=mask4 & (t + 1 < T), other=0.0).to(tl.float32)
        xz, xr, xh, _pad = _unpack4(cur)
        gz = _dot(h, uz, PREC, UPCAST) + bz
        gr = _dot(h, ur, PREC, UPCAST) + br
        gh = _dot(h, uh, PREC, UPCAST) + bh
        z = _sigmoid(xz + gz)
        r = _sigmoid(xr + gr)
        n = _tanh(xh + r * gh)
        h = z * h + (1.0 - z) * n
        tl.store(o_row + t * U, h.to(out_ptr.dtype.element_ty), mask=mask)
        if STASH:
            tl.store(s4 + t * (4 * U), _pack4(z, r, n, gh), mask=mask4)
        cur = nxt


@triton.jit
def _bwd_step_loads(dout_row, s_row, o_row, h0, mask, t, U: tl.constexpr):
    """Everything step t's backward needs that does not depend on the carried gradient.

    The stash's lanes are read one at a time (4-float stride): the backward's layouts
    differ from the forward's, and one packed load cost more conversions here than it saved."""
    dy = tl.load(dout_row + t * U, mask=mask, other=0.0).to(tl.float32)
    at = s_row + t * (4 * U)
    z = tl.load(at, mask=mask, other=0.0)  # lanes as _pack4(z, r, n, gh) stored them
    n = tl.load(at + 1, mask=mask, other=0.0)
    r = tl.load(at + 2, mask=mask, other=0.0)
    gh = tl.load(at + 3, mask=mask, other=0.0)
    prev = tl.load(o_row + (t - 1) * U, mask=mask & (t > 0), other=0.0).to(tl.float32)
    hp = tl.where(t > 0, prev, h0)
    return dy, z, r, n, gh, hp


@triton.jit
def _gru_bwd_kernel(dout_ptr, stash_ptr, out_ptr, h0_ptr, rk_ptr, dxp_ptr, dgh_ptr, dh0_ptr,
                    B, T, U: tl.constexpr, BB: tl.constexpr, PREC: tl.constexpr,
                    UPCAST: tl.constexpr):
    """dout (B, T, U) gradient of every step's output; writes dxp and dgh (B, T, U, 4), the
    gradients of the input and recurrent projections in xp's lanes, and dh0 (B, U) float32."""
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
    s_row = stash_ptr + rows[:, None] * (T * 4 * U) + cols[None, :] * 4
    g_row = rows[:, None] * (T * 4 * U) + cols[None, :] * 4
    carry = tl.zeros((BB, U), dtype=tl.float32)
    dy, z, r, n, gh, hp = _bwd_step_loads(dout_row, s_row, o_row, h0, mask, T - 1, U)
    for i in range(T):
        t = T - 1 - i
        tp = tl.maximum(t - 1, 0)
        ndy, nz, nr, nn, ngh, nhp = _bwd_step_loads(dout_row, s_row, o_row, h0, mask & (t > 0),
                                                    tp, U)
        dh = carry + dy
        dan = dh * (1.0 - z) * (1.0 - n * n)
        daz = dh * (hp - n) * z * (1.0 - z)
        dar = dan * gh * r * (1.0 - r)
        dgh_h = dan * r
        # lanes [z, h, r, (0)] as xp's; the host zeroes the fourth lane once
        at = g_row + t * (4 * U)
        dt = dxp_ptr.dtype.element_ty
        tl.store(dxp_ptr + at, daz.to(dt), mask=mask)
        tl.store(dxp_ptr + at + 1, dan.to(dt), mask=mask)
        tl.store(dxp_ptr + at + 2, dar.to(dt), mask=mask)
        tl.store(dgh_ptr + at, daz.to(dt), mask=mask)
        tl.store(dgh_ptr + at + 1, dgh_h.to(dt), mask=mask)
        tl.store(dgh_ptr + at + 2, dar.to(dt), mask=mask)
        carry = dh * z
        carry += _dot(daz, uzt, PREC, UPCAST)
        carry += _dot(dar, urt, PREC, UPCAST)
        carry += _dot(dgh_h, uht, PREC, UPCAST)
        dy, z, r, n, gh, hp = ndy, nz, nr, nn, ngh, nhp
    tl.store(dh0_ptr + rows[:, None] * U + cols[None, :], carry, mask=mask)
