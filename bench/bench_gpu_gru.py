"""One GRU layer, forward and backward: the persistent Triton kernel against cuDNN.

For each precision (fp32 strict, tf32, fp16, bf16), batch size and the seed network's two
GRU layers (196 -> 128 and 128 -> 128 over 1,375 steps), times with CUDA events:

* forward (gradients on, so the kernel stashes its gates as in training), and
* backward (the gradients of the input, the initial state and every weight),

for cuDNN (model/train/torch_gru.py, the engine's call) and for the persistent kernel in
each launch shape of ``--shapes`` (batch rows per program x warps). Medians of ``--reps``
timings after warm-up; achieved TFLOP/s counts the GEMMs and the recurrence
(2 * steps * 3 * units * (features + units) FLOP per example forward, twice that backward),
against the device's dense peak for that precision given in ``--peaks``.

``--check`` first compares both kernels with cuDNN in float64 on random inputs
(relative L2 error of outputs and of every gradient).

``--compile-report`` needs no GPU: the registers, spills, shared memory and instruction mix
(also per time step) of both kernels built for sm_90 (the H200) in each precision and
launch shape (bench/gru_compile_report.py).

    python bench/bench_gpu_gru.py --compile-report --json bench/results/...json

    KERAS_BACKEND=torch python bench/bench_gpu_gru.py --check --json $OUT/gru_layer.json

On the H200 the whole comparison of the issue is two runs of about 10 minutes each (the
layer table first: its --check says whether the kernel is right on that GPU before
anything is timed):

    python3 bench/bench_gpu_gru.py --check --batches 64,1024 \
        --json $OUT/bench_gpu_h200_persistent_layers.json
    python3 bench/bench_gpu.py --batches 32,64 --layer-times \
        --json $OUT/bench_gpu_h200_persistent_b32_64.json
    python3 bench/bench_gpu.py --batches 256,1024 --json $OUT/bench_gpu_h200_persistent_b256_1024.json

A win measured there goes into model/train/kernels.py's AUTO_PERSISTENT_FROM_BATCH, which
is what ``gru_kernel = "auto"`` reads.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gru_compile_report import compile_report  # noqa: E402
from model.train import gru_persistent_op as gp  # noqa: E402
from model.train.torch_gru import cudnn_gru_flat  # noqa: E402

PRECISIONS = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
              "bf16": torch.bfloat16}
# dense tensor-core / FMA peaks of an H100/H200 SXM (datasheet, TFLOP/s): leads, not readings
DEFAULT_PEAKS = "fp32:67,tf32:495,fp16:990,bf16:990"


def layer_inputs(batch, steps, width, units, dtype, device, seed=0):
    """Random leaves (x, h0, kernel, recurrent_kernel, bias), Keras's shapes and gate order."""
    gen = torch.Generator(device=device).manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, device=device, generator=gen) * scale).to(dtype)
    return [rand(batch, steps, width), rand(batch, units, scale=0.5),
            rand(width, 3 * units, scale=width ** -0.5),
            rand(units, 3 * units, scale=units ** -0.5), rand(2, 3 * units, scale=0.1)]


def run_kernel(fn, leaves, grad_out=None):
    """Outputs and (when grad_out is given) gradients of every leaf."""
    leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
    _last, seq, _h = fn(leaves[0], leaves[1], *leaves[2:], True)
    if grad_out is None:
        return seq, None
    grads = torch.autograd.grad(seq, leaves, grad_out)
    return seq, grads


def set_precision(name: str) -> None:
    """TF32 on for "tf32" only, for matmuls and cuDNN alike."""
    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    torch.backends.cudnn.allow_tf32 = name == "tf32"


def rel(a, b) -> float:
    """||a - b|| / ||b|| in float64 (NaN stays NaN)."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check(device: str, batch=5, steps=200, width=196, units=128) -> dict:
    """Relative errors against cuDNN in float64, per precision and kernel."""
    out = {}
    base = layer_inputs(batch, steps, width, units, torch.float64, device)
    g = torch.randn(batch, steps, units, device=device, dtype=torch.float64)
    ref_seq, ref_grads = run_kernel(cudnn_gru_flat, base, g)
    names = ["out", "x", "h0", "kernel", "recurrent_kernel", "bias"]
    for prec, dtype in PRECISIONS.items():
        set_precision(prec)
        leaves = [t.to(dtype) for t in base]
        for kname, fn in (("cudnn", cudnn_gru_flat), ("persistent", gp.persistent_gru)):
            seq, grads = run_kernel(fn, leaves, g.to(dtype))
            out[f"{prec}/{kname}"] = {n: rel(a, b) for n, a, b in
                                      zip(names, [seq, *grads], [ref_seq, *ref_grads])}
    set_precision("fp32")
    return out


def check_flat_gru(batch: int = 8, steps: int = 50, width: int = 196, units: int = 128) -> dict:
    """The packed-weight cuDNN GRU (model/train/torch_gru.py) against Keras's own call, per
    dtype: largest difference in outputs and in the gradients of inputs and weights."""
    import torch

    from model.train.torch_gru import cudnn_gru_flat
    gen = torch.Generator(device="cuda").manual_seed(0)
    out = {}
    for name, dtype in (("float32", torch.float32), ("float16", torch.float16),
                        ("bfloat16", torch.bfloat16)):
        def rand(*shape):
            return (torch.randn(*shape, device="cuda", generator=gen) * 0.1).to(dtype)
        base = [rand(batch, steps, width), rand(batch, units), rand(width, 3 * units),
                rand(units, 3 * units), rand(2, 3 * units)]
        results = []
        for flat in (False, True):
            leaves = [t.clone().requires_grad_(True) for t in base]
            x, h0, k, rk, b = leaves
            if flat:
                _last, seq, _h = cudnn_gru_flat(x, h0, k, rk, b, True)
            else:
                params = _keras_rnn().prepare_gru_params(k, rk, b, x.device)
                seq = torch._VF.gru(x, h0.unsqueeze(0), params, True, 1, 0.0, True, False, True)[0]
            seq.float().square().sum().backward()
            results.append([seq.detach().float()] + [t.grad.float() for t in leaves])
        out[name] = max(float((a - c).abs().max()) for a, c in zip(*results))
    return out


def _keras_rnn():
    import importlib
    return importlib.import_module("keras.src.backend.torch.rnn")


def time_ms(fn, reps: int) -> float:
    """Median milliseconds of ``fn`` over ``reps`` CUDA-event timings after two warm-ups."""
    fn()
    fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def time_layer(fn, leaves, reps: int) -> tuple[float, float]:
    """(forward ms, backward ms) of one layer call with gradients on."""
    leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
    state = {}

    def fwd():
        state["seq"] = fn(leaves[0], leaves[1], *leaves[2:], True)[1]
    g = torch.randn(leaves[0].shape[0], leaves[0].shape[1], leaves[3].shape[0],
                    device=leaves[0].device, dtype=leaves[0].dtype)

    def bwd():
        torch.autograd.grad(state["seq"], leaves, g, retain_graph=True)
    f_ms = time_ms(fwd, reps)
    fwd()
    b_ms = time_ms(bwd, reps)
    return f_ms, b_ms


def layer_flop(batch, steps, width, units) -> tuple[float, float]:
    """(forward, backward) FLOP of one layer call."""
    fwd = 2.0 * batch * steps * 3 * units * (width + units)
    return fwd, 2 * fwd


def network_flop_per_example(steps=1375, n_freq=101, filters=196, kernel=15,
                             units=128) -> float:
    """FLOP of one training example of the seed network: forward, and twice that backward
    (Conv1D and both GRUs; batch norm, dropout and the Dense(1) are under 1%)."""
    conv = 2.0 * steps * filters * kernel * n_freq
    fwd = conv + sum(layer_flop(1, steps, w, units)[0] for w in (filters, units))
    return 3 * fwd


def parse_peaks(text: str = DEFAULT_PEAKS) -> dict[str, float]:
    """"fp32:67,..." -> {"fp32": 67.0, ...}; the engine's names map onto these too."""
    peaks = {k: float(v) for k, v in (s.split(":") for s in text.split(","))}
    peaks.update({"amp-fp16": peaks["fp16"], "amp-bf16": peaks["bf16"]})
    return peaks


def _print_layer_row(row: dict) -> None:
    res = " ".join(f"{k}:{v['registers']}r/{v['spills']}s/{v['shared_bytes']}B"
                   for k, v in row["resources"].items())
    print(f"{row['precision']:5s} {row['batch']:5d} {row['features']:4d}x{row['units']:<3d} "
          f"{row['kernel']:>14s} {row['forward_ms']:8.2f} {row['backward_ms']:8.2f} "
          f"{row['speedup_vs_cudnn']:7.2f} {row['tflops']:8.2f} "
          f"{100 * row['peak_fraction']:6.2f} {res}", flush=True)


def layer_rows(batch: int, prec: str, steps: int, layers, shapes, reps: int,
               peaks: dict[str, float]) -> list[dict]:
    """Forward and backward time of each layer, cuDNN first, then each launch shape."""
    rows = []
    set_precision(prec)
    for width, units in layers:
        leaves = layer_inputs(batch, steps, width, units, PRECISIONS[prec], "cuda")
        flop = sum(layer_flop(batch, steps, width, units))
        base_ms = None
        for name, shape in [("cudnn", None)] + [(f"persistent {b}x{w}", (b, w)) for b, w in shapes]:
            fn = gp.persistent_gru if shape else cudnn_gru_flat
            if shape:
                gp.TUNING.update(block=shape[0], warps=shape[1])
            try:
                f_ms, b_ms = time_layer(fn, leaves, reps)
            except Exception as err:  # a launch shape that does not compile: say so, go on
                print(f"{prec:5s} {batch:5d} {width}x{units} {name}: {err}"[:300], flush=True)
                continue
            base_ms = base_ms or f_ms + b_ms
            tflops = flop / ((f_ms + b_ms) * 1e-3) / 1e12
            rows.append({"resources": dict(gp.RESOURCES) if shape else {}, "precision": prec,
                         "batch": batch, "features": width, "units": units, "kernel": name,
                         "forward_ms": f_ms, "backward_ms": b_ms,
                         "speedup_vs_cudnn": base_ms / (f_ms + b_ms), "tflops": tflops,
                         "peak_fraction": tflops / peaks[prec]})
            _print_layer_row(rows[-1])
        gp.TUNING.update(block=16, warps=8)
        del leaves
    set_precision("fp32")
    return rows


def print_layer_header() -> None:
    """Column names of the per-layer table."""
    print(f"{'prec':5s} {'batch':>5s} {'layer':>8s} {'kernel':>14s} {'fwd ms':>8s} {'bwd ms':>8s} "
          f"{'x cuDNN':>7s} {'TFLOP/s':>8s} {'% peak':>6s} regs/spills/shared", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="32,64,256,1024")
    p.add_argument("--precisions", default="fp32,tf32,fp16,bf16")
    p.add_argument("--steps", type=int, default=1375)
    p.add_argument("--layers", default="196x128,128x128", help="features x units per layer")
    p.add_argument("--shapes", default="16x8,16x4,32x8",
                   help="persistent launch shapes: rows x warps")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--peaks", default=DEFAULT_PEAKS)
    p.add_argument("--check", action="store_true")
    p.add_argument("--compile-report", action="store_true",
                   help="no GPU needed: sm_90 builds' registers, spills, shared memory; then stop")
    p.add_argument("--json", default="bench_gpu_gru.json")
    args = p.parse_args(argv)
    from bench_args import invocation
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    if args.compile_report:
        import triton
        out = {"invocation": invocation(__file__, args, argv), "target": "cuda sm_90 (H100/H200)",
               "triton": triton.__version__, "units": 128, "builds": compile_report(shapes)}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
        return 0
    peaks = parse_peaks(args.peaks)
    out = {"invocation": invocation(__file__, args, argv), "device": torch.cuda.get_device_name(0),
           "torch": torch.__version__, "rows": []}
    if args.check:
        out["check"] = check("cuda")
        for k, v in out["check"].items():
            print(f"check {k:16s} " + " ".join(f"{n} {e:.2e}" for n, e in v.items()), flush=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    layers = [tuple(int(v) for v in s.split("x")) for s in args.layers.split(",")]
    print_layer_header()
    for batch in [int(b) for b in args.batches.split(",")]:
        for prec in args.precisions.split(","):
            out["rows"] += layer_rows(batch, prec, args.steps, layers, shapes, args.reps, peaks)
            Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
