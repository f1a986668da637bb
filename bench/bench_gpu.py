"""The trial engine against a hand-written PyTorch reference, per precision and batch size.

For each batch size (default 32, 64, 256, 1024) and precision (fp32, tf32, amp-fp16,
amp-bf16), in one process on one GPU:

* engine, once per GRU kernel of ``--gru-kernels`` (cuDNN, and the persistent Triton GRU of
  model/train/gru_persistent.py): the project's own epoch loop (model/train/trial.py: feed
  and step path chosen by the engine itself, as in any run) on a float16 dataset on disk;
  steady examples/s = examples of a timing / its time, median over ``--epochs`` timings
  after one warm-up epoch; a timing is as many whole epochs as make ``--min-steps`` steps
  (each timing ends with a device synchronisation);
* reference: bench/torch_reference.py (cuDNN GRU, fused Adam, data on the device), the same
  number of steps per timing, median over ``--epochs`` timings after warm-up steps.

Each engine row also gives its achieved TFLOP/s (bench_gpu_gru.network_flop_per_example,
about 4.3 GFLOP an example) and that as a fraction of the device's dense peak for the
precision (``--peaks``). ``--layer-times`` adds the per-layer table of
bench/bench_gpu_gru.py: each GRU layer's forward and backward time, persistent against
cuDNN, at the same batches and precisions.

For amp-bf16 the reference runs twice. PyTorch's autocast runs cuDNN GRUs in float16 even
under a bfloat16 autocast, so its "bf16" is a bf16 conv with float16 GRUs; Keras's
mixed_bfloat16, which the engine keeps, runs them in bfloat16, for which cuDNN has no
persistent kernel. The "reference" column runs the GRUs in bfloat16 (the same maths as
the engine: the like-for-like yardstick); "autocast" is PyTorch's default, shown beside
it with its own ratio so the cost of Keras's choice stays visible.

Prints a table (ratio = engine / reference; AMP speedup = precision / fp32 at the same
batch, for both) and writes JSON after every row, with the command line and parsed
arguments under "invocation". ``--sync-probe`` also lists where the engine's steps force a
host-device synchronisation (torch sync debug mode); ``--check-maths`` compares the lean
steps with Keras's own ``train_on_batch`` per precision (bench/engine_maths.py).

    KERAS_BACKEND=torch python bench/bench_gpu.py --json $OUT/bench_gpu.json
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("KERAS_BACKEND", "torch")

PRECISIONS = ("fp32", "tf32", "amp-fp16", "amp-bf16")

from gpu_report import add_speedups, add_tflops, print_maths, print_row  # noqa: E402,F401


def write_bench_dataset(folder: Path, n_train: int, n_dev: int) -> Path:
    """A float16 dataset of ``n_train`` examples: one random block of 256, repeated."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tinydata import make_split

    from model.data.dataset import DatasetMeta
    from model.audio.features import FEATURE_KIND_LOG
    rng = np.random.default_rng(0)
    bx, by = make_split(256, rng)
    for suffix, n in (("", n_train), ("_dev", n_dev)):
        x = np.lib.format.open_memmap(folder / f"X{suffix}.npy", "w+", np.float16, (n,) + bx.shape[1:])
        y = np.lib.format.open_memmap(folder / f"Y{suffix}.npy", "w+", np.float16, (n,) + by.shape[1:])
        for s in range(0, n, 256):
            k = min(256, n - s)
            x[s:s + k], y[s:s + k] = bx[:k], by[:k]
        x.flush(), y.flush()
        del x, y
    meta = DatasetMeta(word="stripe", feature_kind=FEATURE_KIND_LOG, n_train=n_train, n_dev=n_dev,
                       seed=0, generator_version="bench")
    (folder / "meta.json").write_text(meta.to_json())
    return folder


def _free_gpu() -> None:
    import keras
    import torch
    keras.backend.clear_session()
    gc.collect()
    torch.cuda.empty_cache()


def engine_rates(precision: str, batch: int, data, n_train: int, epochs: int,
                 path_mode: str = "auto", gru_kernel: str = "cudnn", per_timing: int = 1) -> dict:
    """Steady examples/s of the engine's own epoch loop, and the path it chose.

    Args:
        epochs: timings (median taken) after one warm-up epoch.
        gru_kernel: TrialConfig.gru_kernel (cudnn, persistent or auto).
        per_timing: whole epochs in one timing (so a timing spans enough steps).
    """
    from model.train.device import peak_memory, reset_peak_memory, synchronize
    from model.train.trial import _Trial
    from model.train.trial_config import TrialConfig
    cfg = TrialConfig(precision=precision, batch_size=batch, epochs=epochs * per_timing + 1,
                      train_examples=n_train, dev_examples=batch, save_model=False,
                      tensorboard=False, dataset=str(data.path), train_path=path_mode,
                      gru_kernel=gru_kernel)
    with tempfile.TemporaryDirectory() as tmp:
        trial = _Trial(cfg, "bench", Path(tmp), lambda _e: None, threading.Event())
        model, runner, record = trial.prepare(data)
        rng = np.random.default_rng(0)
        rates, first_s, loss = [], 0.0, float("nan")
        reset_peak_memory()
        for timing in range(epochs + 1):
            t0, seen = time.perf_counter(), 0
            for _ in range(1 if timing == 0 else per_timing):
                loss, n = trial.train_epoch(runner, data, rng)
                seen += n
            synchronize(model)
            dt = time.perf_counter() - t0
            if timing == 0:
                first_s = dt
            else:
                rates.append(seen / dt)
        mem = peak_memory()
        if trial.feed is not None:
            trial.feed.release()
    del model, runner, trial
    _free_gpu()
    return {"rates": rates, "examples_per_s": statistics.median(rates), "first_epoch_s": first_s,
            "final_loss": loss, "peak_memory_bytes": mem.peak_bytes, "record": record.to_dict(),
            "gru_kernel_asked": gru_kernel, "epochs_per_timing": per_timing}


def reference_rates(precision: str, batch: int, data, steps: int, epochs: int,
                    rnn_dtype=None) -> dict:
    """Steady examples/s of the hand-written reference on the same data, resident."""
    import torch
    from torch_reference import train_examples_per_s

    from model.train.feed_device import array_to_device
    n = min(data.n_train, max(batch, steps * batch))  # the reference cycles through them
    x, y = array_to_device(data.x_train, n), array_to_device(data.y_train, n)
    torch.cuda.reset_peak_memory_stats()
    rates = train_examples_per_s(precision, batch, x, y, warmup_steps=max(3, steps // 4),
                                 timed_steps=steps, repeats=epochs, rnn_dtype=rnn_dtype)
    peak = torch.cuda.max_memory_allocated()
    del x, y
    _free_gpu()
    return {"rates": rates, "examples_per_s": statistics.median(rates), "peak_memory_bytes": peak}


def sync_probe(precision: str, data, batch: int = 64, steps: int = 3) -> dict[str, int]:
    """Where the engine's async steps synchronise with the host: stack tail -> count."""
    import torch

    from model.train.trial import _Trial
    from model.train.trial_config import TrialConfig
    cfg = TrialConfig(precision=precision, batch_size=batch, train_examples=batch * (steps + 1),
                      dev_examples=batch, save_model=False, tensorboard=False, dataset=str(data.path))
    seen: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        trial = _Trial(cfg, "probe", Path(tmp), lambda _e: None, threading.Event())
        model, runner, _record = trial.prepare(data)
        batches = list(trial.batches(np.random.default_rng(0)))
        runner.start_epoch()
        runner.step(*batches[0])  # the first step builds the model; not probed
        torch.cuda.synchronize()

        def hook(message, category, filename, lineno, file=None, line=None):
            frames = [f for f in traceback.extract_stack()[:-1]
                      if "keras" in f.filename or "/model/" in f.filename]
            seen[" <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                             for f in reversed(frames[-4:]))] += 1

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = hook
            torch.cuda.set_sync_debug_mode(1)
            try:
                for xb, yb in batches[1:]:
                    runner.step(xb, yb)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        if trial.feed is not None:
            trial.feed.release()
    _free_gpu()
    return dict(seen.most_common(12))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--batches", default="32,64,256,1024")
    p.add_argument("--examples", type=int, default=4096, help="training examples on disk")
    p.add_argument("--max-steps", type=int, default=48, help="steps per timed epoch, at most")
    p.add_argument("--min-steps", type=int, default=16,
                   help="steps per timing, at least (a timing spans whole epochs)")
    p.add_argument("--epochs", type=int, default=5, help="timings (median)")
    p.add_argument("--gru-kernels", default="cudnn,persistent",
                   help="engine GRU kernels to time (the first is the 'engine' column)")
    p.add_argument("--layer-times", action="store_true",
                   help="also time each GRU layer, forward and backward, persistent vs cuDNN")
    p.add_argument("--peaks", default="", help="dense TFLOP/s peaks, e.g. fp32:67,tf32:495,...")
    p.add_argument("--path", default="auto", help="engine train path: auto or portable")
    p.add_argument("--sync-probe", action="store_true", help="also list forced synchronisations")
    p.add_argument("--check-maths", action="store_true",
                   help="compare the engine's steps with Keras's train_on_batch, per precision")
    p.add_argument("--data", default="", help="dataset folder to reuse (written if missing)")
    p.add_argument("--json", default="bench_gpu.json")
    args = p.parse_args(argv)
    import torch

    from bench_args import invocation
    from bench_gpu_gru import (DEFAULT_PEAKS, check_flat_gru, layer_rows, parse_peaks,
                               print_layer_header)
    from engine_maths import check_maths
    from model.data.dataset import load_dataset
    folder = Path(args.data or tempfile.mkdtemp(prefix="bench-gpu-"))
    if not (folder / "meta.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_bench_dataset(folder, args.examples, 1024)
    data = load_dataset(folder, check_values=False)
    out = {"invocation": invocation(__file__, args, argv),
           "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "backend": os.environ["KERAS_BACKEND"], "path_mode": args.path, "rows": [], "sync": {},
           "reference_optimizer": "torch.optim.Adam(fused=True)"}
    print(f"{out['device']}, torch {out['torch']}, keras backend {out['backend']}; engine path "
          f"{args.path}; {args.epochs} timed epochs each", flush=True)
    peaks = parse_peaks(args.peaks or DEFAULT_PEAKS)
    kernels = [k for k in args.gru_kernels.split(",") if k]
    print(f"{'precision':9s} {'batch':>5s}  {'engine':>9s}  {'reference':>9s}  {'ratio':>6s}  "
          f"{'eng AMP':>7s}  {'ref AMP':>7s}  {'first s':>7s}  {'TFLOP/s':>7s}  engine path")
    for batch in [int(s) for s in args.batches.split(",") if s]:
        steps = max(1, min(args.max_steps, data.n_train // batch))
        per_timing = -(-args.min_steps // steps)  # whole epochs per timing
        batch_rows = []
        for prec in [s for s in args.precisions.split(",") if s]:
            engines = {k: add_tflops(engine_rates(prec, batch, data, steps * batch, args.epochs,
                                                  args.path, k, per_timing), prec, peaks)
                       for k in kernels}
            eng = engines[kernels[0]]
            ref = reference_rates(prec, batch, data, steps * per_timing, args.epochs)
            row = {"precision": prec, "batch": batch, "steps_per_epoch": steps,
                   "steps_per_timing": steps * per_timing, "engine": eng, "reference": ref,
                   "ratio": eng["examples_per_s"] / ref["examples_per_s"]}
            if "persistent" in engines and kernels[0] != "persistent":
                row["engine_persistent"] = engines["persistent"]
            elif "persistent" in engines:
                row["engine_persistent"] = eng
            if prec == "amp-bf16":
                # like with like first (GRUs in bfloat16, as the engine runs them), and
                # autocast's float16 GRUs beside it (see the module docstring)
                row["reference_autocast"] = ref
                row["ratio_autocast"] = row["ratio"]
                ref = reference_rates(prec, batch, data, steps * per_timing, args.epochs,
                                      torch.bfloat16)
                row["reference"] = ref
                row["ratio"] = eng["examples_per_s"] / ref["examples_per_s"]
            if "engine_persistent" in row:
                pers = row["engine_persistent"]["examples_per_s"]
                row["ratio_persistent"] = pers / row["reference"]["examples_per_s"]
                row["persistent_vs_cudnn"] = pers / engines.get("cudnn", eng)["examples_per_s"]
            batch_rows.append(row)
        add_speedups(batch_rows)
        for r in batch_rows:
            print_row(r)
        out["rows"] += batch_rows
        Path(args.json).write_text(json.dumps(out, indent=2))
    if args.layer_times:
        out["gru_layers"] = []
        print_layer_header()
        for batch in [int(s) for s in args.batches.split(",") if s]:
            for prec in [s for s in args.precisions.split(",") if s]:
                short = prec.replace("amp-", "")
                out["gru_layers"] += layer_rows(batch, short, 1375, [(196, 128), (128, 128)],
                                                [(16, 8)], 5, peaks)
                Path(args.json).write_text(json.dumps(out, indent=2))
    if args.check_maths:
        out["flat_gru"] = check_flat_gru()
        print("packed-weight GRU vs Keras's cuDNN call, max |difference| in outputs and "
              f"gradients: {out['flat_gru']}", flush=True)
        out["maths"] = {}
        for prec in [s for s in args.precisions.split(",") if s]:
            out["maths"][prec] = check_maths(prec, data)
            print_maths(prec, out["maths"][prec])
        Path(args.json).write_text(json.dumps(out, indent=2))
    if args.sync_probe:
        for prec in [s for s in args.precisions.split(",") if s]:
            out["sync"][prec] = sync_probe(prec, data)
            print(f"forced synchronisations per 3 async steps, {prec}:", flush=True)
            for where, n in out["sync"][prec].items():
                print(f"  {n:3d}  {where}")
        Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
