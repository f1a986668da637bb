"""Training speed and peak memory per precision and batch size (prints figures, asserts nothing).

CPU mode (default): fp32, amp-bf16 and amp-fp16 (emulated) at batch 32 and 64, on a
temporary memory-mapped float16 dataset of two batches, through the trial engine's own
code (iterate_batches, build_trial_model, train_on_batch). Each (precision, batch) runs in
a fresh subprocess so its peak RSS is its own.

GPU mode (``--gpu``, meant for KERAS_BACKEND=torch or jax on an H200): fp32, tf32,
amp-fp16 and amp-bf16 at batch 64, 256 and 1024 on random data generated in the child
(self-contained). Each step is timed twice over: fed from host numpy batches (what the
engine does) and from batches already on the device (the ceiling). Writes JSON.

Figures: examples/s = batch / median step time over ``--steps`` timed steps, after
``--warmup`` untimed steps (the first includes tracing/compilation, reported apart);
each step ends with a device synchronisation.

    .venv/bin/python bench/bench_train.py                       # CPU
    KERAS_BACKEND=torch python bench/bench_train.py --gpu --json $OUT/train_gpu_torch.json
    KERAS_BACKEND=jax python bench/bench_train.py --gpu --batches 1024 --json $OUT/b1024.json

Under a per-command time limit, split the GPU run by ``--batches`` (JSON is rewritten
after every row, so a run cut short keeps its finished rows).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_args import invocation  # noqa: E402  (bench/ is the script's folder)

CPU_PRECISIONS = ("fp32", "amp-bf16", "amp-fp16")
GPU_PRECISIONS = ("fp32", "tf32", "amp-fp16", "amp-bf16")


def _host_batches(batch: int, on_disk: bool, folder: Path, seed: int):
    """Endless host batches: from a 2-batch memory-mapped float16 file, or random in memory."""
    import numpy as np

    from model.audio.features import N_FRAMES, N_FREQ, N_STEPS
    from model.train.feed import iterate_batches
    rng = np.random.default_rng(seed)
    n = 2 * batch if on_disk else batch
    x = rng.standard_normal((n, N_FRAMES, N_FREQ), dtype=np.float32).astype(np.float16)
    y = (rng.uniform(0, 1, (n, N_STEPS, 1)) < 0.05).astype(np.float16)
    if on_disk:
        np.save(folder / "X.npy", x)
        np.save(folder / "Y.npy", y)
        del x, y
        x, y = np.load(folder / "X.npy", mmap_mode="r"), np.load(folder / "Y.npy", mmap_mode="r")
    while True:
        yield from iterate_batches(x, y, batch, rng)


def _time_steps(model, batches, n: int) -> list[float]:
    from model.train.device import synchronize
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        xb, yb = next(batches)
        model.train_on_batch(xb, yb)
        synchronize(model)
        times.append(time.perf_counter() - t0)
    return times


def measure(precision: str, batch: int, warmup: int, steps: int, gpu: bool) -> dict:
    """Child: build the engine's model at one precision and time training steps."""
    from model.train.device import peak_memory, read_rss_bytes, reset_peak_memory
    from model.train.precision import apply_precision
    from model.train.trial import build_trial_model
    from model.train.trial_config import TrialConfig
    record = apply_precision(precision)
    model = build_trial_model(TrialConfig(precision=precision, batch_size=batch), record)
    with tempfile.TemporaryDirectory() as tmp:
        batches = _host_batches(batch, not gpu, Path(tmp), 0)
        reset_peak_memory()
        warm = _time_steps(model, batches, warmup)
        host = _time_steps(model, batches, steps)
        out = {"precision": precision, "batch": batch, "record": record.to_dict(),
               "first_step_s": warm[0] if warm else None,
               "median_step_s": statistics.median(host),
               "examples_per_s": batch / statistics.median(host),
               "steps_timed": steps}
        if gpu:
            import itertools

            import keras
            xb, yb = next(batches)
            on_dev = (keras.ops.convert_to_tensor(xb), keras.ops.convert_to_tensor(yb))
            dev = _time_steps(model, itertools.repeat(on_dev), steps)
            out["device_fed_examples_per_s"] = batch / statistics.median(dev)
    mem = peak_memory()
    out.update(peak_memory_bytes=mem.peak_bytes, memory_kind=mem.kind,
               peak_rss_bytes=read_rss_bytes("VmHWM"))
    return out


def run_child(precision: str, batch: int, args) -> dict:
    """Parent: run one measurement in a fresh interpreter; its last stdout line is JSON."""
    cmd = [sys.executable, __file__, "--child", precision, str(batch), "--warmup",
           str(args.warmup), "--steps", str(args.steps)] + (["--gpu"] if args.gpu else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"precision": precision, "batch": batch, "error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_row(r: dict, gpu: bool) -> None:
    """One table line (or the error)."""
    if "error" in r:
        print(f"{r['precision']:9s} {r['batch']:5d}  FAILED: {r['error']}", flush=True)
        return
    rec = r["record"]
    flags = ",".join(f for f, on in (("tf32", rec["tf32"]), ("lossscale", rec["loss_scaling"]),
                                     ("emulated", rec["emulated"])) if on) or "-"
    dev = f"  {r['device_fed_examples_per_s']:9.1f}" if gpu else ""
    print(f"{r['precision']:9s} {r['batch']:5d}  {r['examples_per_s']:8.1f}{dev}  "
          f"{r['median_step_s']:8.3f}  {r['first_step_s']:8.2f}  "
          f"{r['peak_memory_bytes'] / 2**30:7.2f} {r['memory_kind']:6s}  "
          f"{r['peak_rss_bytes'] / 2**30:7.2f}  {rec['compute_dtype']:8s} {flags}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gpu", action="store_true", help="GPU mode (batches 64, 256, 1024)")
    p.add_argument("--precisions", default="", help="comma list (default: mode's set)")
    p.add_argument("--batches", default="", help="comma list (default 32,64; GPU 64,256,1024)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 1)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per measurement")
    p.add_argument("--json", default="", help="write all results here")
    p.add_argument("--child", nargs=2, metavar=("PRECISION", "BATCH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), max(args.warmup, 1),
                                 args.steps, args.gpu)))
        return 0
    precisions = [s for s in args.precisions.split(",") if s] or \
        list(GPU_PRECISIONS if args.gpu else CPU_PRECISIONS)
    batches = [int(s) for s in args.batches.split(",") if s] or \
        ([64, 256, 1024] if args.gpu else [32, 64])
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"backend {backend}; {args.steps} timed steps after {args.warmup} warm-up; "
          "one subprocess per row", flush=True)
    print(f"{'precision':9s} {'batch':>5s}  {'ex/s':>8s}{'  dev-fed' if args.gpu else ''}  "
          f"{'step s':>8s}  {'first s':>8s}  {'peak GiB':>14s}  {'RSS GiB':>7s}  compute  flags")
    results = []
    out = args.json or ("bench_train_gpu.json" if args.gpu else "")
    for batch in batches:
        for prec in precisions:
            results.append(run_child(prec, batch, args))
            print_row(results[-1], args.gpu)
            if out:  # after every row, so a run stopped by a time limit keeps what it measured
                Path(out).write_text(json.dumps({"invocation": invocation(__file__, args, argv),
                                                 "backend": backend, "results": results},
                                                indent=2))
    if out:
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
