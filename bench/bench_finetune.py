"""Time of enrolment's fine-tune alone, on this machine's device, for a saved personal dataset.

An enrolment's stages are making the personal dataset (text-to-speech, mixing, speech
embeddings: CPU work) and the fine-tune (a trial through the job queue, on the GPU when
there is one). This bench times the second: it fine-tunes the base on a personal dataset
folder (``<profile>/dataset``, written by any enrolment) through model.enroll.finetune, the
path the CLI and the Enrol page use, ``--repeats`` times per precision, and prints the wall
time of each whole run (fresh worker process, model load, every epoch, saving) and the
median seconds per epoch from the run's own records. Prints figures; asserts nothing.

    python bench/bench_finetune.py --dataset PROFILE/dataset [--precisions fp32,amp-bf16]
        [--init auto] [--epochs N] [--repeats 3] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def time_finetunes(dataset: Path, init: str, precision: str, epochs: int, repeats: int,
                   work: Path) -> dict:
    """``repeats`` fine-tunes of ``init`` on ``dataset``; wall and per-epoch seconds."""
    from model.enroll.finetune import FinetuneConfig, finetune, resolve_base
    from model.runs.jobs import Runner
    from model.runs.store import RunStore
    base = resolve_base(init)
    cfg = replace(FinetuneConfig(init=init, epochs=epochs), precision=precision)
    runner = Runner(RunStore(work / f"finetune-{precision}.sqlite"))
    walls, epoch_s, device = [], [], ""
    try:
        for k in range(repeats):
            t0 = time.perf_counter()
            run_id, _ = finetune(dataset, base, cfg, runner, f"bench {precision} {k}")
            walls.append(time.perf_counter() - t0)
            epoch_s += [e.epoch_seconds for e in runner.store.epochs(run_id)][1:]  # first: warm-up
            run = runner.store.run(run_id)
            device = run.device.device_name if run.device else ""
    finally:
        runner.shutdown()
    return {"precision": precision, "epochs": epochs, "repeats": repeats, "device": device,
            "wall_s": [round(w, 1) for w in walls], "median_wall_s": round(statistics.median(walls), 1),
            "median_epoch_s": round(statistics.median(epoch_s), 3) if epoch_s else None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, help="a personal dataset folder")
    p.add_argument("--init", default="auto", help="base model (enroll --init)")
    p.add_argument("--precisions", default="fp32,amp-bf16")
    p.add_argument("--epochs", type=int, default=0, help="0: enrolment's default (FinetuneConfig.epochs)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    if not args.epochs:
        from model.enroll.finetune import FinetuneConfig
        args.epochs = FinetuneConfig().epochs
    from model.data.dataset import META_FILE, DatasetMeta
    meta = DatasetMeta.from_json((Path(args.dataset) / META_FILE).read_text())
    print(f"fine-tune bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{meta.n_train} train / {meta.n_dev} dev examples; load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        for precision in args.precisions.split(","):
            row = time_finetunes(Path(args.dataset), args.init, precision, args.epochs,
                                 args.repeats, Path(tmp))
            rows.append(row)
            print(f"{precision:<9} {row['device'] or 'cpu'}: whole fine-tune {row['median_wall_s']} s "
                  f"(runs {row['wall_s']}), {row['median_epoch_s']} s an epoch", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"invocation": sys.argv[1:], "n_train": meta.n_train,
                                               "n_dev": meta.n_dev, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
