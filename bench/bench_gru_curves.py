"""Same training with either GRU kernel: loss curves of cuDNN and the persistent kernel.

The persistent Triton GRU (model/train/gru_persistent.py) must train like cuDNN: the same
dev-loss curve within seed noise over a 10-epoch run. Each row is one whole trial through
the real job queue (fresh process, the engine's own path) with ``gru_kernel`` forced to
``cudnn`` or ``persistent``, at one precision, batch size and seed; it records the train and
dev loss per epoch, the kernel the run's record says ran, and steady examples/s. Seed noise
is the spread between seeds with the same kernel; the kernels agree when the gap between
their seed-mean curves is within that spread.

Data: the learnable stripe dataset of bench/bench_multi_gpu.py (full 5511-frame clips).
Needs a CUDA GPU (the persistent kernel falls back to cuDNN elsewhere, and the record says
so). Prints figures; asserts nothing.

    KERAS_BACKEND=torch python bench/bench_gru_curves.py --json OUT.json \
        [--rows amp-bf16:64,amp-fp16:1024] [--seeds 0,1] [--epochs 10]
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
sys.path.insert(0, str(ROOT / "bench"))

KERNELS = ("cudnn", "persistent")


def run_curve(runner, base, precision: str, batch: int, kernel: str, seed: int) -> dict:
    """One trial with ``kernel`` forced; its loss curves, record and speed."""
    from bench_multi_gpu import _curves, _speed, run_one
    cfg = replace(base, gru_kernel=kernel, seed=seed)
    run = run_one(runner, cfg, precision, 1, batch)
    rec = run.device
    return {"precision": precision, "batch": batch, "kernel_asked": kernel, "seed": seed,
            "gru_kernel": getattr(rec, "gru_kernel", None) if rec else None,
            "notes": list(rec.notes) if rec else [], "status": run.status,
            "examples_per_s": _speed(run), **_curves(runner, run)}


def gap_summary(rows: list[dict]) -> list[dict]:
    """Per (precision, batch): the largest gap between the kernels' seed-mean dev curves, and
    the largest spread between seeds of one kernel (the noise it is read against)."""
    out = []
    for key in sorted({(r["precision"], r["batch"]) for r in rows}):
        mine = [r for r in rows if (r["precision"], r["batch"]) == key and r["dev_loss_curve"]]
        curves = {k: [r["dev_loss_curve"] for r in mine if r["kernel_asked"] == k] for k in KERNELS}
        if not all(curves.values()):
            continue
        n = min(len(c) for cs in curves.values() for c in cs)
        mean = {k: [statistics.fmean(c[e] for c in cs) for e in range(n)] for k, cs in curves.items()}
        gap = max(abs(mean["cudnn"][e] - mean["persistent"][e]) for e in range(n))
        spread = max((max(c[e] for c in cs) - min(c[e] for c in cs))
                     for cs in curves.values() if len(cs) > 1 for e in range(n)) \
            if any(len(cs) > 1 for cs in curves.values()) else None
        final = {k: round(mean[k][-1], 5) for k in KERNELS}
        out.append({"precision": key[0], "batch": key[1], "epochs": n,
                    "max_gap_dev_loss": round(gap, 5),
                    "max_seed_spread_dev_loss": None if spread is None else round(spread, 5),
                    "final_dev_loss_mean": final})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", required=True, help="where to write {'rows': [...], 'summary': [...]}")
    p.add_argument("--data", default="/tmp/gru-curve-data", help="dataset folder (made if missing)")
    p.add_argument("--train", type=int, default=2048, help="training examples")
    p.add_argument("--dev", type=int, default=256, help="dev examples")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--rows", default="amp-bf16:64,amp-fp16:1024", help="PRECISION:BATCH,...")
    p.add_argument("--seeds", default="0,1")
    args = p.parse_args()
    from bench_multi_gpu import write_data

    from model.runs.jobs import Runner
    from model.runs.store import RunStore
    from model.train.trial_config import TrialConfig
    data = write_data(Path(args.data), args.train, args.dev)
    runner = Runner(RunStore(Path(args.data).parent / f"gru-curves-{time.time():.0f}.sqlite"))
    base = TrialConfig(epochs=args.epochs, dataset=str(data), save_model=False, tensorboard=False)
    out = {"invocation": {"script": "bench_gru_curves.py", "argv": sys.argv[1:], "args": vars(args)},
           "date": time.strftime("%Y-%m-%d"), "rows": []}
    t0 = time.time()
    for spec in args.rows.split(","):
        precision, _, batch = spec.partition(":")
        for seed in (int(s) for s in args.seeds.split(",")):
            for kernel in KERNELS:
                row = run_curve(runner, base, precision, int(batch), kernel, seed)
                out["rows"].append(row)
                print(json.dumps(row), flush=True)
                out["summary"] = gap_summary(out["rows"])
                out["seconds"] = round(time.time() - t0, 1)
                Path(args.json).write_text(json.dumps(out, indent=2))  # a timeout keeps what ran
    runner.shutdown(timeout=60)
    print(json.dumps(out["summary"], indent=2))


if __name__ == "__main__":
    main()
