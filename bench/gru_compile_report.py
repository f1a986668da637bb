"""``bench/bench_gpu_gru.py --compile-report``: the persistent GRU kernels built for sm_90, no GPU.

Triton compiles the forward and backward kernels (model/train/gru_persistent.py) for the
H200 (sm_90) in each precision and launch shape, and ``cuobjdump`` (shipped with Triton)
reads each cubin's registers, stack (spilled registers) and instruction mix, also per time
step (the body of the step loop, per warp); Triton's own figure gives the shared memory a
launch needs (a Hopper block may have at most 227 KiB). Run it through bench_gpu_gru.py,
which puts the repository root on ``sys.path`` and writes the JSON.
"""
from __future__ import annotations

from pathlib import Path

COMPILE_OPS = ("HMMA", "HGMMA", "FFMA", "MUFU", "LDL", "STL", "BAR.SYNC", "LDS", "LDSM")


def _compile_one(kernel, dtype: str, prec: str, block: int, warps: int, backward: bool):
    """Compile one pass for sm_90 without a GPU; returns (cubin bytes, shared bytes)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    ptr = f"*{dtype}"
    if backward:
        sig = dict(dout_ptr=ptr, stash_ptr="*fp32", out_ptr=ptr, h0_ptr=ptr, rk_ptr=ptr,
                   dxp_ptr=ptr, dgh_ptr=ptr, dh0_ptr="*fp32")
    else:
        sig = dict(xp_ptr=ptr, rk_ptr=ptr, brec_ptr="*fp32", h0_ptr=ptr, out_ptr=ptr,
                   stash_ptr="*fp32")
    const = {"U": 128, "BB": block, "PREC": prec, "UPCAST": False}
    if not backward:
        const["STASH"] = True
    sig.update(B="i32", T="i32", **{k: "constexpr" for k in const})
    compiled = triton.compile(ASTSource(kernel, sig, constexprs=const),
                              target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    return compiled.asm["cubin"], compiled.metadata.shared


def loop_ops(sass: str) -> dict:
    """Instructions per warp in the longest loop of a SASS listing (the time-step loop):
    the loop runs once per step, so these are per-step counts; {} if no loop is found."""
    import re
    at = [(int(m.group(1), 16), line) for line in sass.splitlines()
          for m in [re.search(r"/\*([0-9a-f]{4,})\*/\s", line)] if m]
    loops = [(int(b.group(1), 16), a) for a, line in at
             for b in [re.search(r"BRA\s.*?0x([0-9a-f]+)", line)] if b and int(b.group(1), 16) < a]
    if not loops:
        return {}
    lo, hi = max(loops, key=lambda x: x[1] - x[0])
    body = [line for a, line in at if lo <= a <= hi]
    ops = {o: sum(1 for line in body if re.search(rf"\b{re.escape(o)}\b", line))
           for o in COMPILE_OPS}
    return {"instructions": len(body), **ops}


def compile_report(shapes) -> list[dict]:
    """Registers, spills, shared memory and instruction mix of each sm_90 build."""
    import re
    import subprocess
    import tempfile

    import triton

    from model.train.gru_persistent import _gru_bwd_kernel, _gru_fwd_kernel
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    rows = []
    for dtype, prec in (("fp32", "ieee"), ("fp32", "tf32"), ("fp16", "ieee"), ("bf16", "ieee")):
        for (block, warps), backward in [(s, b) for s in shapes for b in (False, True)]:
            kernel = _gru_bwd_kernel if backward else _gru_fwd_kernel
            cubin, shared = _compile_one(kernel, dtype, prec, block, warps, backward)
            with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
                f.write(cubin)
                f.flush()
                res = subprocess.run([str(tool), "-res-usage", f.name], capture_output=True,
                                     text=True).stdout
                sass = subprocess.run([str(tool), "-sass", f.name], capture_output=True,
                                      text=True).stdout
            use = dict(re.findall(r"(REG|STACK):(\d+)", res))
            rows.append({"precision": "fp32-strict" if prec == "ieee" and dtype == "fp32"
                         else ("tf32" if prec == "tf32" else dtype),
                         "pass": "backward" if backward else "forward", "block": block,
                         "warps": warps, "registers": int(use.get("REG", -1)),
                         "stack_bytes": int(use.get("STACK", -1)), "shared_bytes": shared,
                         "fits_shared": shared <= 227 * 1024,
                         "sass_ops": {o: len(re.findall(rf"\b{re.escape(o)}\b", sass))
                                      for o in COMPILE_OPS},
                         "per_step": loop_ops(sass)})
            r = rows[-1]
            print(f"{r['precision']:11s} {r['pass']:8s} {block:3d}x{warps}  regs {r['registers']:3d}  "
                  f"stack {r['stack_bytes']:6d} B  shared {shared:6d} B"
                  f"{'' if r['fits_shared'] else ' (too much)'}  per step: {r['per_step']}",
                  flush=True)
    return rows
