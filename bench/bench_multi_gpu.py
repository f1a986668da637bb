"""Several GPUs: data-parallel scaling and per-run placement, through the real job queue.

Rows (JSON ``{"rows": [...]}``):
* ``kind: data-parallel``: steady examples/s of one run at ``per_gpu_batch`` per GPU on 1
  and on N GPUs (global batch N x per-GPU), ``scaling`` against 1 GPU, and the final dev
  loss; plus, for each precision, a one-GPU run at the N-GPU global batch (the same maths
  as the data-parallel run: their dev losses should agree within seed noise).
* ``kind: sweep``: a sweep (batch sizes x precisions, one run each) with one run per GPU
  against the same sweep on one GPU: wall time from the first start to the last end.

Data: a learnable stripe dataset (tests/tinydata.py's clips, full 5511-frame size),
written once in chunks. Prints figures; asserts nothing.

    KERAS_BACKEND=torch python bench/bench_multi_gpu.py --json OUT.json [--sweep]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from model.data.dataset import DatasetMeta  # noqa: E402
from model.audio.features import FEATURE_KIND_LOG  # noqa: E402


def write_data(folder: Path, n_train: int, n_dev: int, chunk: int = 256) -> Path:
    """The stripe dataset at full clip size, written chunk by chunk (host memory stays small)."""
    from tests.tinydata import make_split
    if (folder / "meta.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in (("", n_train), ("_dev", n_dev)):
        x0, y0 = make_split(1, rng)
        xs = np.lib.format.open_memmap(folder / f"X{name}.npy", "w+", np.float16, (n,) + x0.shape[1:])
        ys = np.lib.format.open_memmap(folder / f"Y{name}.npy", "w+", np.float16, (n,) + y0.shape[1:])
        for start in range(0, n, chunk):
            x, y = make_split(min(chunk, n - start), rng)
            xs[start:start + len(x)], ys[start:start + len(y)] = x, y
        xs.flush(), ys.flush()
        del xs, ys
    meta = DatasetMeta(word="stripe", feature_kind=FEATURE_KIND_LOG, n_train=n_train,
                       n_dev=n_dev, seed=0, generator_version="tests.tinydata")
    (folder / "meta.json").write_text(meta.to_json())
    return folder


def run_one(runner, base, precision: str, gpus: int, batch: int, placement="data-parallel"):
    """One comparison of one run; returns its stored RunRow once it ended."""
    from model.train.distributed import ParallelConfig
    from model.train.trial_config import ComparisonConfig
    cfg = ComparisonConfig(replace(base, batch_size=batch,
                                   parallel=ParallelConfig(gpus=gpus, placement=placement)),
                           [precision])
    cid = runner.start(cfg)
    runner.wait(cid)
    run = runner.store.runs(cid)[0]
    if run.status != "finished":
        print(f"  {precision} gpus {gpus} batch {batch}: {run.status} {run.message}", flush=True)
    return run


def data_parallel_rows(runner, base, precisions, per_gpu: int, gpus: int) -> list[dict]:
    """1 vs ``gpus`` GPUs at ``per_gpu`` examples per GPU, and 1 GPU at the global batch."""
    rows = []
    for prec in precisions:
        one = run_one(runner, base, prec, 1, per_gpu)
        many = run_one(runner, base, prec, gpus, per_gpu * gpus)
        same = run_one(runner, base, prec, 1, per_gpu * gpus)
        ref = _speed(one)
        for n, run in ((1, one), (gpus, many)):
            rows.append({"kind": "data-parallel", "precision": prec, "per_gpu_batch": per_gpu,
                         "gpus": n, "global_batch": per_gpu * n, "examples_per_s": _speed(run),
                         "scaling": round(_speed(run) / ref, 3) if ref and _speed(run) else None,
                         "final_dev_loss": _dev(run), **_curves(runner, run),
                         "allreduce_dtype": "float32" if n > 1 else None,
                         "status": run.status, "notes": run.device.notes if run.device else []})
        rows.append({"kind": "one-gpu-same-global-batch", "precision": prec,
                     "per_gpu_batch": per_gpu * gpus, "gpus": 1, "global_batch": per_gpu * gpus,
                     "examples_per_s": _speed(same), "scaling": None,
                     "final_dev_loss": _dev(same), **_curves(runner, same),
                     "status": same.status})
        print(json.dumps(rows[-3:]), flush=True)
    return rows


def _curves(runner, run) -> dict:
    """The run's train and dev loss per epoch (the curves the data-parallel check compares)."""
    epochs = runner.store.epochs(run.id)
    return {"train_loss_curve": [round(e.train_loss, 5) for e in epochs],
            "dev_loss_curve": [round(e.dev_loss, 5) for e in epochs]}


def _speed(run) -> float | None:
    s = run.summary
    return round(s.steady_examples_per_second, 1) if s and s.steady_examples_per_second else None


def _dev(run) -> float | None:
    return round(run.summary.final_dev_loss, 5) if run.summary and run.summary.final_dev_loss else None


def sweep_rows(runner, base, batches: list[int], precisions: list[str], gpus: int) -> list[dict]:
    """The same sweep with one run per GPU over ``gpus`` GPUs, then on one GPU."""
    from model.runs.sweep_jobs import start_sweep
    from model.runs.sweep_store import read_sweep
    from model.train.distributed import ParallelConfig
    from model.train.sweep_config import SweepConfig
    rows = []
    for n in (gpus, 1):
        cfg = SweepConfig(base=replace(base, parallel=ParallelConfig(gpus=n, placement="per-run")),
                          batch_sizes=batches, precisions=precisions, epochs=base.epochs,
                          train_examples=base.train_examples)
        sid = start_sweep(runner, cfg)
        sweep = read_sweep(runner.store, sid)
        for m in sweep.members:
            runner.wait(m.comparison_id)
        runs = [r for m in sweep.members for r in runner.store.runs(m.comparison_id)]
        wall = max(r.ended_unix for r in runs) - min(r.started_unix for r in runs)
        rows.append({"kind": "sweep", "placement": "per-run", "gpus": n, "runs": len(runs),
                     "batch_sizes": batches, "precisions": precisions, "wall_s": round(wall, 1),
                     "statuses": [r.status for r in runs]})
        print(json.dumps(rows[-1]), flush=True)
    rows[0]["wall_vs_one_gpu"] = round(rows[0]["wall_s"] / rows[1]["wall_s"], 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", required=True, help="where to write {'rows': [...]}")
    parser.add_argument("--data", default="/tmp/mgpu-data", help="dataset folder (made if missing)")
    parser.add_argument("--train", type=int, default=4096, help="training examples")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (1 is warm-up)")
    parser.add_argument("--per-gpu-batch", type=int, default=256)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,amp-fp16")
    parser.add_argument("--sweep", action="store_true", help="the per-run sweep rows instead")
    parser.add_argument("--sweep-batches", default="256,512")
    args = parser.parse_args()
    from model.runs.jobs import Runner
    from model.runs.store import RunStore
    from model.train.trial_config import TrialConfig
    data = write_data(Path(args.data), args.train, 256)
    runner = Runner(RunStore(Path(args.data).parent / f"mgpu-{time.time():.0f}.sqlite"))
    base = TrialConfig(epochs=args.epochs, dataset=str(data), save_model=False, tensorboard=False)
    precisions = args.precisions.split(",")
    t0 = time.time()
    if args.sweep:
        rows = sweep_rows(runner, replace(base, epochs=2), [int(b) for b in
                          args.sweep_batches.split(",")], precisions, args.gpus)
    else:
        rows = data_parallel_rows(runner, base, precisions, args.per_gpu_batch, args.gpus)
    runner.shutdown(timeout=60)
    out = {"rows": rows, "date": "2026-11-30", "seconds": round(time.time() - t0, 1),
           "median_scaling": statistics.median([r["scaling"] for r in rows
                                                if r.get("scaling") and r["gpus"] > 1] or [0])}
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
